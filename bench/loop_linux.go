package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"syscall"
	"time"
)

// defaultClient is the load generator's client unless -client says.
const defaultClient = "loop"

// loopConn is one connection of the event loop: a non-blocking socket
// that Go's poller does not know of.
type loopConn struct {
	fd   int
	rng  *rand.Rand
	body []byte
	req  []byte
	in   inbox
	sent time.Time
	done bool
}

// runLoop is run for the loop client: one goroutine, locked to its
// thread, drives every connection through its own epoll set, as an event
// loop load generator does. A response that arrives wakes that one thread,
// and one wake often finds several responses, so a request costs the
// load generator its write, its read and a share of one epoll_wait, and
// no goroutine switches.
func (l load) runLoop(ctx context.Context, addr string, o op, onMeasure func()) (result, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return result{}, fmt.Errorf("the loop client needs an IPv4 address and port, not %q", addr)
	}
	sa := &syscall.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return result{}, fmt.Errorf("epoll_create1: %w", err)
	}
	defer syscall.Close(ep)
	start := time.Now()
	conns := make([]*loopConn, l.conns)
	for i := range conns {
		fd, err := dialFD(sa)
		if err != nil {
			return result{}, fmt.Errorf("dial %s: %w", addr, err)
		}
		defer syscall.Close(fd)
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(i)}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return result{}, fmt.Errorf("epoll_ctl: %w", err)
		}
		conns[i] = &loopConn{fd: fd, rng: rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))}
	}
	from, end := start.Add(l.warmup), start.Add(l.warmup+l.duration)
	if onMeasure != nil {
		timer := time.AfterFunc(l.warmup, onMeasure)
		defer timer.Stop()
	}

	var r result
	r.latencies = make([]time.Duration, 0, 1<<20)
	var last time.Time
	send := func(c *loopConn, now time.Time) error {
		c.body = o.body(c.rng, c.body[:0])
		c.req = appendRequest(c.req[:0], addr, o.path, c.body)
		c.sent = now
		n, err := syscall.Write(c.fd, c.req)
		if err != nil {
			return err
		}
		if n < len(c.req) {
			return errors.New("request not written whole")
		}
		return nil
	}
	// answered takes every whole response c holds, and sends the next
	// request while the run lasts.
	answered := func(c *loopConn) error {
		for {
			status, _, ok, err := c.in.next()
			if err != nil || !ok {
				return err
			}
			now := time.Now()
			if !c.sent.Before(from) {
				r.latencies = append(r.latencies, now.Sub(c.sent))
				last = now
				if status/100 != 2 {
					r.failures++
				}
			}
			if !now.Before(end) {
				c.done = true
				return nil
			}
			if err := send(c, now); err != nil {
				return err
			}
		}
	}
	for _, c := range conns {
		if err := send(c, time.Now()); err != nil {
			return result{}, fmt.Errorf("%s: %w", o.name, err)
		}
	}
	events := make([]syscall.EpollEvent, len(conns))
	for open := len(conns); open > 0; {
		if err := ctx.Err(); err != nil {
			return result{}, err
		}
		n, err := syscall.EpollWait(ep, events, 100)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return result{}, fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range events[:n] {
			c := conns[ev.Fd]
			err := c.in.fill(func(b []byte) (int, error) {
				n, err := syscall.Read(c.fd, b)
				return max(n, 0), err
			})
			if errors.Is(err, syscall.EAGAIN) {
				continue
			}
			if err == nil {
				err = answered(c)
			}
			if err != nil {
				return result{}, fmt.Errorf("%s: %w", o.name, err)
			}
			if c.done {
				syscall.EpollCtl(ep, syscall.EPOLL_CTL_DEL, c.fd, nil)
				open--
			}
		}
	}
	slices.Sort(r.latencies)
	r.requests = len(r.latencies)
	r.elapsed = span(from, last)
	return r, nil
}

// dialFD connects a non-blocking TCP socket with Nagle's algorithm off,
// as Go's own connections are.
func dialFD(sa *syscall.SockaddrInet4) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	err = syscall.Connect(fd, sa)
	if err == nil {
		err = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	}
	if err == nil {
		err = syscall.SetNonblock(fd, true)
	}
	if err != nil {
		syscall.Close(fd)
		return 0, err
	}
	return fd, nil
}
