/* sig-segv, a reference solution: the notes' SIGSEGV program. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void myOwnHandler(int signo)
{
    if (signo == SIGSEGV) {
        printf("Memory access blows up!\n");
        exit(1);
    }
}

int main(void)
{
    int *ip = NULL;

    if (signal(SIGSEGV, myOwnHandler) == SIG_ERR) {
        printf("Failed to register handler\n");
        return 1;
    }
    *ip = 123;
    return 0;
}
