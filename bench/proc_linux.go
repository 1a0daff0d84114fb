package main

import "syscall"

// childAttr makes a child die with the benchmark, so an interrupted run
// leaves no service behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// freeze stops the processes with SIGSTOP and returns what continues them.
// A process that has already exited is left to the check that waits on it.
func freeze(procs []*child) (thaw func()) {
	signalAll(procs, syscall.SIGSTOP)
	return func() { signalAll(procs, syscall.SIGCONT) }
}

func signalAll(procs []*child, sig syscall.Signal) {
	for _, c := range procs {
		c.cmd.Process.Signal(sig) //nolint:errcheck // see freeze
	}
}
