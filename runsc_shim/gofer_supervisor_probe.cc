// gofer_supervisor_probe: a stand-in for devgofer in gofer_supervisor_test.
// It prints, one "name: value" line each, what the supervisor's child set
// up before exec (its arguments, FDs, signals, process group, parent-death
// signal, environment), then exits 0.

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace {

std::string Link(int fd) {
  char path[64], buf[256];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, buf, sizeof(buf) - 1);
  return n < 0 ? "?" : std::string(buf, n);
}

void PrintStatus(const char* field) {
  FILE* f = fopen("/proc/self/status", "re");
  if (f == nullptr) return;
  char line[512];
  size_t len = strlen(field);
  while (fgets(line, sizeof(line), f) != nullptr) {
    if (strncmp(line, field, len) == 0 && line[len] == ':') {
      char* v = line + len + 1;
      while (*v == ' ' || *v == '\t') ++v;
      printf("%s: %s", field, v);
    }
  }
  fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  printf("args:");
  for (int i = 1; i < argc; ++i) printf(" %s", argv[i]);
  printf("\n");
  // FDs open at exec (the directory stream's own left out).
  DIR* d = opendir("/proc/self/fd");
  printf("fds:");
  if (d != nullptr) {
    int own = dirfd(d);
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      if (atoi(e->d_name) == own) continue;
      printf(" %s", e->d_name);
    }
    closedir(d);
  }
  printf("\n");
  printf("fd0: %s\n", Link(0).c_str());
  struct stat s1, s2, s3;
  bool same = fstat(1, &s1) == 0 && fstat(2, &s2) == 0 &&
              s1.st_ino == s2.st_ino && S_ISFIFO(s1.st_mode);
  printf("fd1 and fd2: %s\n", same ? "one pipe" : "not one pipe");
  printf("fd3: %s\n", fstat(3, &s3) == 0 && S_ISSOCK(s3.st_mode)
                          ? "socket"
                          : "not a socket");
  PrintStatus("SigBlk");
  PrintStatus("SigIgn");
  printf("own process group: %s\n", getpgrp() == getpid() ? "yes" : "no");
  int sig = 0;
  prctl(PR_GET_PDEATHSIG, &sig);
  printf("pdeathsig: %d\n", sig);
  for (const char* var : {"NOTIFY_SOCKET", "LISTEN_FDS", "PROBE_KEPT"}) {
    const char* v = getenv(var);
    printf("env %s: %s\n", var, v == nullptr ? "(unset)" : v);
  }
  return 0;
}
