/* pipeline: run CMD1 | CMD2 as the shell does (notes B3, "the shell's |").
 *
 *   ./pipeline 'seq 5' 'sort -r'
 *
 * Each argument is split on spaces into a command and its arguments (no quoting), and run
 * with execvp. The program waits for both children and exits with the second command's
 * status, as sh does; 127 when a command cannot be run.
 *
 * The lab sheet, docs/03-pipes.md, "How the shell builds A | B", shows the same steps for
 * seq 5 | sort -r. Fill in the TODOs; `make check` runs lab-check on this file. */
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
    /* TODO: execvp the command (argv[0] is its name, looked up on PATH). execvp returns
     * only when it failed: say why on stderr with perror(argv[0]). */
    _exit(127);                 /* a command that cannot be run: 127, as the shell says */
}

int main(int argc, char *argv[])
{
    int fd[2], status = 0;
    pid_t writer, reader;
    char *cmd1[MAX_WORDS], *cmd2[MAX_WORDS];

    if (argc != 3) {
        fprintf(stderr, "usage: %s 'CMD1 ARGS' 'CMD2 ARGS'\n", argv[0]);
        return 2;
    }
    split(argv[1], cmd1);
    split(argv[2], cmd2);

    /* TODO 1: pipe(fd): fd[READ_END] to read, fd[WRITE_END] to write (check for -1). */

    writer = fork();
    if (writer == -1) {
        perror("fork");
        return 1;
    }
    if (writer == 0) {          /* child 1 becomes CMD1, stdout into the pipe */
        /* TODO 2: dup2 the write end onto stdout (1); close both original ends. */
        run(cmd1);
    }

    reader = fork();
    if (reader == -1) {
        perror("fork");
        return 1;
    }
    if (reader == 0) {          /* child 2 becomes CMD2, stdin from the pipe */
        /* TODO 3: dup2 the read end onto stdin (0); close both original ends. */
        run(cmd2);
    }

    /* TODO 4: the parent uses neither end: close both. */

    /* TODO 5: wait for both children with waitpid; keep the second one's status. */
    (void) fd;
    (void) reader;

    /* the status of a pipeline is the last command's */
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}
