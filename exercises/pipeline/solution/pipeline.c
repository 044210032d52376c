/* pipeline: run CMD1 | CMD2 as the shell does (notes B3, "the shell's |").
 *
 *   ./pipeline 'seq 5' 'sort -r'
 *
 * Each argument is split on spaces into a command and its arguments (no quoting), and run
 * with execvp. The program waits for both children and exits with the second command's
 * status, as sh does; 127 when a command cannot be run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define READ_END 0
#define WRITE_END 1
#define MAX_WORDS 64

/* Split line on spaces into words (line is changed); argv ends with NULL. */
static void split(char *line, char *argv[])
{
    int n = 0;
    char *word = strtok(line, " ");

    while (word != NULL && n < MAX_WORDS - 1) {
        argv[n++] = word;
        word = strtok(NULL, " ");
    }
    argv[n] = NULL;
}

/* In a child: run the command; only returns if execvp failed. */
static void run(char *argv[])
{
    if (argv[0] == NULL) {
        fprintf(stderr, "pipeline: empty command\n");
        _exit(127);
    }
    execvp(argv[0], argv);
    perror(argv[0]);            /* only reached if exec failed */
    _exit(127);
}

int main(int argc, char *argv[])
{
    int fd[2], status;
    pid_t writer, reader;
    char *cmd1[MAX_WORDS], *cmd2[MAX_WORDS];

    if (argc != 3) {
        fprintf(stderr, "usage: %s 'CMD1 ARGS' 'CMD2 ARGS'\n", argv[0]);
        return 2;
    }
    split(argv[1], cmd1);
    split(argv[2], cmd2);

    if (pipe(fd) == -1) {
        perror("pipe");
        return 1;
    }

    writer = fork();
    if (writer == -1) {
        perror("fork");
        return 1;
    }
    if (writer == 0) {          /* child 1 becomes CMD1, stdout into the pipe */
        if (dup2(fd[WRITE_END], 1) == -1) {
            perror("dup2");
            _exit(127);
        }
        close(fd[READ_END]);
        close(fd[WRITE_END]);
        run(cmd1);
    }

    reader = fork();
    if (reader == -1) {
        perror("fork");
        close(fd[READ_END]);
        close(fd[WRITE_END]);
        waitpid(writer, NULL, 0);
        return 1;
    }
    if (reader == 0) {          /* child 2 becomes CMD2, stdin from the pipe */
        if (dup2(fd[READ_END], 0) == -1) {
            perror("dup2");
            _exit(127);
        }
        close(fd[READ_END]);
        close(fd[WRITE_END]);
        run(cmd2);
    }

    close(fd[READ_END]);        /* the parent uses neither end */
    close(fd[WRITE_END]);
    if (waitpid(writer, NULL, 0) == -1)
        perror("waitpid");
    if (waitpid(reader, &status, 0) == -1) {
        perror("waitpid");
        return 1;
    }
    /* the status of a pipeline is the last command's */
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}
