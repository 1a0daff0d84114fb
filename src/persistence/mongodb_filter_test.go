package persistence

import (
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Judged before any lease ends, Active is the active flag alone, which the
// index on it answers without reading a session; judged now, it also
// weighs the lease.
func TestMongoFilterOfActive(t *testing.T) {
	yes, no := true, false
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		filter sessions.Filter
		want   bson.D
	}{
		{"active before any lease ends", sessions.Filter{Active: &yes},
			bson.D{{Key: "active", Value: true}}},
		{"inactive before any lease ends", sessions.Filter{Active: &no},
			bson.D{{Key: "active", Value: false}}},
		{"live now", sessions.Filter{Active: &yes, Now: now}, bson.D{
			{Key: "active", Value: true},
			{Key: "$or", Value: bson.A{
				bson.D{{Key: "expire_time", Value: nil}},
				bson.D{{Key: "expire_time", Value: bson.D{{Key: "$gt", Value: now}}}},
			}}}},
	} {
		if got := mongoFilter(tc.filter); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v; want %v", tc.name, got, tc.want)
		}
	}
}
