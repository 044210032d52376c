/* The notes' slave (B1), with every call checked: attach the master's segment, write three
 * values into shm[1..3], then the flag shm[0] = 1, last, and detach. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/shm.h>

int main(void)
{
    int shmid, i, input, *shm;

    printf("Shared memory id for attachment: ");
    if (scanf("%d", &shmid) != 1) {
        printf("Error: no id given!\n");
        exit(1);
    }

    /* step 2 -> attach the master's segment */
    shm = (int *) shmat(shmid, NULL, 0);
    if (shm == (int *) -1) {
        printf("Error: Cannot attach!\n");
        exit(1);
    }

    /* step 3 -> the values first ... */
    for (i = 0; i < 3; i++) {
        if (scanf("%d", &input) != 1) {
            printf("Error: expected three whole numbers!\n");
            shmdt((char *) shm);
            exit(1);
        }
        shm[i + 1] = input;
    }

    /* ... the flag last: the master reads the values the moment it sees it */
    shm[0] = 1;

    /* step 4 -> detach (the master destroys the segment: step 5) */
    if (shmdt((char *) shm) == -1) {
        perror("shmdt");
        exit(1);
    }
    return 0;
}
