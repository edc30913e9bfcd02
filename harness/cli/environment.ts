// Every environment variable labproof reads, for `labproof --help` (a test checks that each
// one the code reads is listed here).
export const ENVIRONMENT_HELP = `environment:
  LABPROOF_OUTPUT_DIR         where reports/, allure-results/ and allure-report/ go (default: the
                              current directory; run --out and the config's "output" set it too)
  LABPROOF_JOBS               scenarios run at once (default: netns 4, docker 4, qemu 2, vagrant 1)
  LABPROOF_SCENARIO_DIR       the default scenario folder, instead of the config's "scenarios",
                              ./scenarios or the shipped examples
  LABPROOF_DOCS               folders of the scenarios' documents, separated by ":" (check-source)
  LABPROOF_MAX_SCENARIO_BYTES, LABPROOF_MAX_STEPS
                              the largest scenario file accepted (default 1 MiB, 2000 steps; run's
                              --max-scenario-bytes/--max-steps win, the config's maxScenarioBytes/
                              maxSteps count when these are unset)
  LABPROOF_NETNS_DISK_MB      what a netns host may write in total, MiB (default 512)
  LABPROOF_DOCKER_IMAGE       the docker backend's default --image (read by labproof run)
  LABPROOF_DOCKER_PRIVILEGED  1: the docker backend's default is --privileged (read by labproof run)
  DOCKER_HOST                 the Docker engine to use (as docker's own client reads it)
  LABPROOF_CACHE              where VM images, Vagrant boxes, parsed scenarios and list's index
                              are cached (default ~/.cache/labproof)
  LABPROOF_DEBIAN_MIRROR      the Debian mirror for image builds (default http://deb.debian.org/debian)
  LABPROOF_QEMU_ACCEL         tcg: never try KVM
  LABPROOF_QEMU_SAVED_CACHE   where the qemu backend keeps its saved VM pairs across runs (default
                              $LABPROOF_CACHE/vm/saved; off: for the run only); labproof clean
                              empties it
  LABPROOF_VAGRANT_BOX        the Vagrant box for Host 01 and Host 02 (default: labproof's own box on
                              libvirt, else debian/bookworm64)
  LABPROOF_VAGRANT_GATEWAY    vm: a third VM plays the gateway and the internet host
  VAGRANT_DEFAULT_PROVIDER, VAGRANT_HOME
                              read as vagrant reads them
  LABPROOF_SSH_PASSPHRASE     the passphrase of grade's --identity key
  NO_COLOR                    set (non-empty): no colour codes; none either when stdout is not a
                              terminal or TERM=dumb, unless FORCE_COLOR is set (FORCE_COLOR=0: none)
  FORCE_COLOR, TERM           see NO_COLOR
  PATH                        where the netns backend finds perl, ip, nsenter and setpriv (then
                              /usr/bin, /usr/sbin, /bin, /sbin)
  read by the scenarios' vitest entry (scenarios/labs.test.ts: \`npm test\`, vitest started
  directly; labproof run needs none of them):
  LABPROOF_SCENARIO_FILES     a JSON list of the scenario files to run (default: all defaults)
  LABPROOF_BACKEND, LABPROOF_DISTRO, LABPROOF_KERNEL
                              where they run (default netns)
  LABPROOF_RUN_ID             ties one run's records together (reports/run/)
`

export const EXIT_CODES_HELP = `exit codes:
  0    every step passed (steps skipped with a reason are not failures); for other commands: done
  1    a step failed, or labproof could not do it: a scenario or config file, the machine, the
       HTML report (one line \`labproof: …\` says why)
  2    the command line: an unknown command, option, scenario file or id, a malformed value
  130, 143, 129
       interrupted by SIGINT, SIGTERM or SIGHUP (or its parent process went away): the run
       stopped and its labs were removed; 141: its output was closed (\`labproof run | head\`)
`
