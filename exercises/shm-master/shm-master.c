/* Exercise shm-master: the notes' master (lecture notes B1, shared memory).
 *
 * Run this program in one terminal; it prints "Shared Memory Id = N". Run shm-slave (ipc-lab's:
 * `shm-slave N 11 22 33`, or yours) in another: this program then prints the three values.
 * Build: make        Check: make check        (see README.md)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

int main(void)
{
    int shmid = -1, *shm = NULL;

    /* TODO step 1: create the segment: shmid = shmget(IPC_PRIVATE, 40, IPC_CREAT | 0600);
     *       on -1 print "Cannot create shared memory!\n" and exit(1);
     *       else print "Shared Memory Id = %d\n" with shmid. */

    /* TODO step 2: attach it: shm = (int *) shmat(shmid, NULL, 0);
     *       on (int *) -1 print "Cannot attach shared memory!\n" and exit(1). */

    /* TODO step 3: clear the flag (shm[0] = 0), then sleep(3) while shm[0] == 0;
     *       then print "Read %d from shared memory.\n" for shm[1], shm[2], shm[3]. */

    /* TODO steps 4 and 5: detach (shmdt) and destroy (shmctl(shmid, IPC_RMID, 0)). */

    (void) shmid;
    (void) shm;
    return 0;
}
