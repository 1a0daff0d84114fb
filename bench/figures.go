package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// memoryPerSession measures the resident memory a stored session costs on
// the memory persistence.
func (b *bench) memoryPerSession(ctx context.Context) error {
	const n = 100_000
	b.logf("rss: starting the service on memory")
	svc, err := b.startService(ctx, "service-rss", b.serviceBin, "MEMORY_ENABLED=true")
	if err != nil {
		return err
	}
	defer b.stop(svc)
	// Warm up connections, buffers and the heap of serving requests with
	// a few opens and a second of reads, which store nothing.
	const warmOpens = 1000
	err = each(ctx, b.dial, svc.addr, b.conns, warmOpens, func(c conn, i int) error {
		_, err := post(c, commandPath("open_session"), appendOpen(nil, userName("warm-", i)))
		return err
	})
	if err != nil {
		return err
	}
	l := b.load
	l.warmup, l.duration = 0, time.Second
	if _, err := l.run(ctx, svc.addr, getSessionsOp("warm-", warmOpens), nil); err != nil {
		return err
	}
	b.logf("rss: idle for %v", b.settle)
	time.Sleep(b.settle)
	before, err := svc.rss()
	if err != nil {
		return err
	}
	b.logf("rss: %d MiB; opening %d sessions", before>>20, n)
	err = each(ctx, b.dial, svc.addr, b.conns, n, func(c conn, i int) error {
		_, err := post(c, commandPath("open_session"), appendOpen(nil, userName("user-", i/sessionsPerUser)))
		return err
	})
	if err != nil {
		return err
	}
	b.logf("rss: idle for %v", b.settle)
	time.Sleep(b.settle)
	after, err := svc.rss()
	if err != nil {
		return err
	}
	per := float64(after-before) / n
	b.logf("rss: %d MiB; %.0f bytes per session", after>>20, per)
	b.figures = append(b.figures,
		figure{"resident memory before (memory)", float64(before) / (1 << 20), "MiB"},
		figure{"resident memory after 100 000 opens", float64(after) / (1 << 20), "MiB"},
		figure{figRSSPerSession, per, "B"})
	return nil
}

// restart writes a file store of restartSessions sessions in process, then
// times the service from process start to its first heartbeat on it.
func (b *bench) restart(ctx context.Context) error {
	dir := filepath.Join(b.tmp, "restart")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, "sessions.json")
	n := b.restartSessions
	b.logf("restart: writing %d sessions through the file persistence", n)
	t0 := time.Now()
	if err := writeStore(ctx, path, n); err != nil {
		return err
	}
	debug.FreeOSMemory()
	var size int64
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			size += info.Size()
		}
	}
	b.logf("restart: written in %v, %d MiB on disk; starting the service", time.Since(t0).Round(time.Millisecond), size>>20)

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	env := append([]string{"FILE_ENABLED=true", "FILE_PATH=" + path, "HTTP_PORT=" + port(addr), "LOG_LEVEL=warn"}, b.procsEnv()...)
	started := time.Now()
	svc, err := start("service-restart", b.tmp, b.tmp, env, b.serviceBin, "-c", filepath.Join(b.root, "config", "config.yml"))
	if err != nil {
		return err
	}
	svc.addr = addr
	b.children = append(b.children, svc)
	defer b.stop(svc)
	up, err := svc.waitHTTP(ctx, "http://"+addr+"/heartbeat", 5*time.Minute)
	if err != nil {
		return err
	}
	took := up.Sub(started)
	// Check that the service holds every session.
	c, err := dialRaw(addr)
	if err != nil {
		return err
	}
	defer c.close()
	resp, err := post(c, commandPath(opGetSessions), []byte(`{"paging":{"take":1,"total":true}}`))
	if err != nil {
		return err
	}
	var page struct {
		Total int `json:"total"`
	}
	if err := json.Unmarshal(resp, &page); err != nil {
		return fmt.Errorf("get_sessions answered %.200s: %w", resp, err)
	}
	if page.Total != n {
		return fmt.Errorf("after the restart the service holds %d sessions; want %d", page.Total, n)
	}
	b.logf("restart: first heartbeat %v after start, %d sessions", took.Round(time.Millisecond), page.Total)
	b.figures = append(b.figures,
		figure{fmt.Sprintf("file store of %d sessions on disk", n), float64(size) / (1 << 20), "MiB"},
		figure{figRestart, took.Seconds(), "s"})
	return nil
}

// writeStore creates n sessions with small data in a file store at path
// from 64 writers (so they share fsyncs) and closes it cleanly.
func writeStore(ctx context.Context, path string, n int) error {
	store := persistence.NewFile(path)
	if err := store.Open(ctx); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		next     int
		firstErr error
	)
	for range 64 {
		wg.Go(func() {
			var id [16]byte
			for {
				mu.Lock()
				i := next
				next++
				stop := i >= n || firstErr != nil || ctx.Err() != nil
				mu.Unlock()
				if stop {
					return
				}
				rand.Read(id[:])
				user := userName("user-", i/sessionsPerUser)
				_, err := store.Create(ctx, &sessions.Session{
					ID: hex.EncodeToString(id[:]), UserID: user, UserName: "Name of " + user, Active: true,
					OpenTime: now, RequestTime: now, Address: "203.0.113.7", Client: "web",
					User: json.RawMessage(`{"id":"` + user + `","roles":["viewer"]}`),
					Data: json.RawMessage(`{"theme":"dark","lang":"en"}`),
				})
				if err != nil {
					mu.Lock()
					firstErr = errors.Join(firstErr, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(firstErr, ctx.Err(), store.Close(ctx))
}
