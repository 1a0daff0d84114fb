package test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
)

// handedOut holds the ports freeAddr has returned in this test binary.
var handedOut sync.Map

// freeAddr returns a loopback address nobody listens on, for a child
// server to take. Its port lies below the kernel's ephemeral range, from
// which every outgoing connection and every listener on port 0 takes
// theirs: the port cannot be taken by one of them between this check and
// the child's start, nor while a test has the child stopped to restart it
// on the same port. No port is handed out twice, so that two tests
// running in parallel never draw the same one before either child takes it.
func freeAddr() (*net.TCPAddr, error) {
	low := ephemeralLow()
	for range 100 {
		port := 10000 + rand.IntN(low-10000)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken
		}
		addr := l.Addr().(*net.TCPAddr)
		if err := l.Close(); err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		return addr, nil
	}
	return nil, fmt.Errorf("find a free port: 100 ports below %d were taken", low)
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	var low, high int
	if err != nil {
		return 32768
	}
	if _, err := fmt.Sscan(string(b), &low, &high); err != nil || low <= 10000 {
		return 32768
	}
	return low
}
