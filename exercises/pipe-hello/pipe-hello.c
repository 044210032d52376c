/* pipe-hello: the lecture notes' pipe program (B3 Unix pipe).
 *
 * The parent writes "Hello There!" (with its '\0') into a pipe; the child reads it and prints
 *     Proc 0 read: Hello There!
 * (0 is what fork returned in the child). Fill in the TODOs, then:
 *     make check          (or: lab-check pipe-hello pipe-hello.c)
 */
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
    char buf[100] = "", *str = "Hello There!";

    /* TODO: create the pipe; on failure perror("pipe") and return 1 */

    if ((pid = fork()) > 0) { /* parent proc */
        /* TODO: close the end the parent does not use */
        /* TODO: write str and its '\0' (strlen(str) + 1 bytes) into the write end */
        /* TODO: close the write end, so the reader sees end of file after the message */
        /* TODO: wait for the child, so it is not left for someone else to reap */
    } else if (pid == 0) { /* child proc */
        /* TODO: close the end the child does not use */
        /* TODO: read from the read end into buf */
        printf("Proc %d read: %s\n", pid, buf);
        /* TODO: close the read end */
    } else {
        perror("fork");
        return 1;
    }
    (void)pipeFd;
    (void)str;
    return 0;
}
