#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>

/* receive(MB, msg): take N messages from the mailbox QUEUE, print each on its own line, then
 * remove the mailbox. Run it as ./mq-receive /QUEUE N once the queue holds messages
 * (mq-send -c /QUEUE ... makes it and fills it). */
int main(int argc, char *argv[])
{
    mqd_t mq;
    struct mq_attr attr;
    char *buf = NULL;
    ssize_t len;
    unsigned int prio;
    int i, count;

    if (argc != 3) {
        fprintf(stderr, "usage: %s /QUEUE N\n", argv[0]);
        return 2;
    }
    count = atoi(argv[2]);

    /* TODO: open the existing mailbox argv[1] for receiving: mq_open(argv[1], O_RDONLY).
     * On failure it returns (mqd_t) -1: perror("mq_open") and return 1. */
    mq = (mqd_t) -1;

    /* TODO: ask the queue its attributes (mq_getattr(mq, &attr)), and malloc a buffer of
     * attr.mq_msgsize bytes: mq_receive refuses a smaller one (EMSGSIZE). */
    (void) attr;

    for (i = 0; i < count; i++) {
        /* TODO: receive one message: len = mq_receive(mq, buf, attr.mq_msgsize, &prio).
         * It waits while the queue is empty; -1 is an error (perror, return 1).
         * The kernel hands the highest priority first, the oldest first within a priority. */
        len = 0;
        (void) prio;

        /* TODO: print the message on its own line. It has no '\0' at its end: print exactly
         * the len bytes received, printf("%.*s\n", (int) len, buf). */
        (void) len;
    }

    /* TODO: free the buffer, close the queue (mq_close), and remove it (mq_unlink(argv[1])):
     * mq_close alone leaves the queue in the kernel. */
    free(buf);
    (void) mq;
    return 0;
}
