package logic_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// BenchmarkOpenSession compares plain opens with quota-checked opens on the
// memory store, in parallel: every quota-checked open reads its home, checks
// the sessions in its places and takes a place. Compare the two ns/op
// figures of one run; the target is quota-checked opens at no more than
// twice the cost of plain ones.
func BenchmarkOpenSession(b *testing.B) {
	const homes = 100_000
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		quota bool
	}{{"plain", false}, {"quota", true}} {
		b.Run(tc.name, func(b *testing.B) {
			c := logic.NewController(persistence.NewMemory(), nil)
			users := make([]string, homes)
			for i := range users {
				users[i] = fmt.Sprintf("user-%d", i)
				if tc.quota {
					if _, err := c.SetHome(ctx, &logic.HomeArgs{Home: &sessions.Home{ID: users[i], MaxSessions: 1000}}); err != nil {
						b.Fatal(err)
					}
				}
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1)
					if _, err := c.OpenSession(ctx, &logic.OpenSessionArgs{UserID: users[i%homes], Client: "bench"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
