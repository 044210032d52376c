/* The notes' master (B1), with every call checked: create a private 40-byte segment, print its
 * id, attach it, clear the flag, sleep until a slave sets it, print the three values, then
 * detach and destroy the segment. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

int main(void)
{
    int shmid, i, *shm;

    /* step 1 -> create shared memory: read and write for its owner only */
    shmid = shmget(IPC_PRIVATE, 40, IPC_CREAT | 0600);
    if (shmid == -1) {
        printf("Cannot create shared memory!\n");
        exit(1);
    } else
        printf("Shared Memory Id = %d\n", shmid);

    /* step 2 -> attach shared memory */
    shm = (int *) shmat(shmid, NULL, 0);
    if (shm == (int *) -1) {
        printf("Cannot attach shared memory!\n");
        shmctl(shmid, IPC_RMID, 0);
        exit(1);
    }

    /* step 3 -> wait for the slave's flag, then read the values */
    shm[0] = 0;
    while (shm[0] == 0) {
        sleep(3);
    }

    for (i = 0; i < 3; i++) {
        printf("Read %d from shared memory.\n", shm[i + 1]);
    }

    /* steps 4 and 5 -> detach and destroy M */
    if (shmdt((char *) shm) == -1)
        perror("shmdt");
    if (shmctl(shmid, IPC_RMID, 0) == -1) {
        perror("shmctl(IPC_RMID)");
        exit(1);
    }
    return 0;
}
