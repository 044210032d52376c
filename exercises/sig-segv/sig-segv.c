/* sig-segv: the lecture notes' SIGSEGV program (B4 Unix signal).
 *
 * A write through a null pointer makes the kernel send SIGSEGV. With a handler installed, the
 * program prints
 *     Memory access blows up!
 * and exits with status 1, instead of being killed. Fill in the TODOs, then:
 *     make check          (or: lab-check sig-segv sig-segv.c)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void myOwnHandler(int signo)
{
    if (signo == SIGSEGV) {
        /* TODO: print the notes' line */
        /* TODO: end the program with status 1: a SIGSEGV handler must not return */
    }
}

int main(void)
{
    int *ip = NULL;

    /* TODO: install myOwnHandler for SIGSEGV with signal(); say so if it returns SIG_ERR */

    *ip = 123;
    return 0;
}
