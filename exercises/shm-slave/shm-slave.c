/* Exercise shm-slave: the notes' slave (lecture notes B1, shared memory).
 *
 * Run shm-master (ipc-lab's, or yours) in one terminal; it prints "Shared Memory Id = N".
 * Run this program in another, type N, then three whole numbers: the master prints them.
 * Build: make        Check: make check        (see README.md)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/shm.h>

int main(void)
{
    int shmid = -1, *shm = NULL;

    /* TODO: print the prompt "Shared memory id for attachment: " (no newline), then read
     *       the id with scanf("%d", &shmid). */

    /* TODO step 2: attach the segment: shm = (int *) shmat(shmid, NULL, 0);
     *       shmat returns (void *) -1 when it fails: then print "Error: Cannot attach!\n"
     *       and exit(1). */

    /* TODO step 3: read three values with scanf("%d", ...), one at a time, into shm[1],
     *       shm[2], shm[3]; only then set the flag: shm[0] = 1. */

    /* TODO step 4: detach: shmdt((char *) shm); the master destroys the segment. */

    (void) shmid;
    (void) shm;
    return 0;
}
