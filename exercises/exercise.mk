# The rules every exercise's Makefile shares. A Makefile names its exercise and includes this:
#
#   EXERCISE = pipe-hello
#   include $(dir $(lastword $(MAKEFILE_LIST)))../exercise.mk
#
# make: build EXERCISE from EXERCISE.c; make check: run lab-check on it; make clean.
# `make check LAB_CHECK=/path/to/lab-check` runs another lab-check than the one in PATH;
# LDLIBS adds libraries to the link (`make LDLIBS=-lrt` where the mq_ functions need it).
CC ?= cc
CFLAGS ?= -Wall -Wextra
LAB_CHECK ?= lab-check

$(EXERCISE): $(EXERCISE).c
	$(CC) $(CFLAGS) -o $@ $(EXERCISE).c $(LDLIBS)

check: $(EXERCISE).c
	$(LAB_CHECK) $(EXERCISE) $(EXERCISE).c

clean:
	rm -f $(EXERCISE)

.PHONY: check clean
