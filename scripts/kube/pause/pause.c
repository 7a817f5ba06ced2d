/* The pod sandbox's process (Kubernetes' "pause"): holds the pod's namespaces and sleeps until told to
 * stop. Built statically by scripts/kube/images.sh into an image FROM scratch, because no registry
 * that serves registry.k8s.io/pause can be reached here. Reaps children in case it is PID 1 of a
 * shared process namespace. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) {
  (void)sig;
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  signal(SIGINT, stop);
  signal(SIGTERM, stop);
  signal(SIGCHLD, reap);
  for (;;) pause();
  return 0;
}
