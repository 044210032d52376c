#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>

/* receive(MB, msg): take N messages from the mailbox QUEUE, print each on its own line, then
 * remove the mailbox. The kernel hands the highest priority first, the oldest first within a
 * priority. */
int main(int argc, char *argv[])
{
    mqd_t mq;
    struct mq_attr attr;
    char *buf;
    ssize_t len;
    unsigned int prio;
    int i, count;

    if (argc != 3) {
        fprintf(stderr, "usage: %s /QUEUE N\n", argv[0]);
        return 2;
    }
    count = atoi(argv[2]);

    /* open the existing mailbox for receiving; the sender made it */
    mq = mq_open(argv[1], O_RDONLY);
    if (mq == (mqd_t) -1) {
        perror("mq_open");
        return 1;
    }

    /* the buffer must hold the largest message the queue takes (mq_msgsize) */
    if (mq_getattr(mq, &attr) == -1) {
        perror("mq_getattr");
        return 1;
    }
    buf = malloc(attr.mq_msgsize);
    if (buf == NULL) {
        perror("malloc");
        return 1;
    }

    for (i = 0; i < count; i++) {
        /* waits while the queue is empty */
        len = mq_receive(mq, buf, attr.mq_msgsize, &prio);
        if (len == -1) {
            perror("mq_receive");
            return 1;
        }
        /* a message has no '\0': print exactly the len bytes received */
        printf("%.*s\n", (int) len, buf);
    }

    free(buf);
    mq_close(mq);

    /* remove the mailbox: messages still in it are lost */
    if (mq_unlink(argv[1]) == -1) {
        perror("mq_unlink");
        return 1;
    }
    return 0;
}
