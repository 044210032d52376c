/* pipe-hello, a reference solution: the notes' pipe program, with its results checked and the
 * child waited for. */
#define READ_END 0
#define WRITE_END 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    int pipeFd[2], pid;
    ssize_t len;
    char buf[100], *str = "Hello There!";

    if (pipe(pipeFd) == -1) {
        perror("pipe");
        return 1;
    }
    if ((pid = fork()) > 0) { /* parent proc */
        close(pipeFd[READ_END]);
        if (write(pipeFd[WRITE_END], str, strlen(str) + 1) == -1)
            perror("write");
        close(pipeFd[WRITE_END]);
        if (waitpid(pid, NULL, 0) == -1) {
            perror("waitpid");
            return 1;
        }
    } else if (pid == 0) { /* child proc */
        close(pipeFd[WRITE_END]);
        len = read(pipeFd[READ_END], buf, sizeof buf - 1);
        if (len <= 0) {
            fprintf(stderr, "read: nothing came\n");
            return 1;
        }
        buf[len] = '\0';
        printf("Proc %d read: %s\n", pid, buf);
        close(pipeFd[READ_END]);
    } else {
        perror("fork");
        return 1;
    }
    return 0;
}
