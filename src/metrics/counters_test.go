package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/events"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

var controllerLocator = container.MustDescriptor("service-sessions:controller:default:*:1.0")

func event(typ string, active bool) sessions.Event {
	return sessions.Event{Type: typ, Session: &sessions.Session{ID: "s1", Active: active}}
}

// closedEvent is an event of a session closed before it.
func closedEvent(typ string) sessions.Event {
	e := event(typ, false)
	e.Session.CloseTime, e.Session.CloseReason = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), sessions.ReasonClosed
	return e
}

func TestSessionEventsMoveTheActiveGaugeAndCountLocalCloses(t *testing.T) {
	type step struct {
		e     sessions.Event
		local bool
	}
	tests := []struct {
		name   string
		start  int64
		steps  []step
		active float64
		closes map[string]float64
	}{
		{name: "opened", start: 2, steps: []step{{event(sessions.EventOpened, true), true}}, active: 3},
		{name: "opened elsewhere", start: 2, steps: []step{{event(sessions.EventOpened, true), false}}, active: 3},
		{name: "renewed and updated change nothing", start: 2,
			steps:  []step{{event(sessions.EventRenewed, true), true}, {event(sessions.EventUpdated, true), true}},
			active: 2},
		{name: "every way to end", start: 5,
			steps: []step{
				{event(sessions.EventClosed, false), true},
				{event(sessions.EventExpired, false), true},
				{event(sessions.EventEvicted, false), true},
				{event(sessions.EventDeleted, true), true},
			},
			active: 1,
			closes: map[string]float64{"closed": 1, "expired": 1, "evicted": 1, "deleted": 1}},
		{name: "ended elsewhere moves the gauge only", start: 3,
			steps: []step{
				{event(sessions.EventClosed, false), false},
				{event(sessions.EventExpired, false), false},
				{event(sessions.EventDeleted, true), false},
			},
			active: 0},
		{name: "deleting a closed session ends nothing", start: 1,
			steps: []step{{closedEvent(sessions.EventDeleted), true}}, active: 1},
		{name: "deleting a lapsed session not yet swept ends it", start: 1,
			steps:  []step{{event(sessions.EventDeleted, false), true}},
			active: 0, closes: map[string]float64{"deleted": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCounters(controllerLocator)
			c.ActiveSessions(tt.start)
			for _, s := range tt.steps {
				c.SessionEvent(s.e, s.local)
			}
			if got := testutil.ToFloat64(c.active); got != tt.active {
				t.Errorf("sessions_active: got %v; want %v", got, tt.active)
			}
			for _, reason := range []string{"closed", "expired", "evicted", "deleted"} {
				if got := testutil.ToFloat64(c.closes.WithLabelValues(reason)); got != tt.closes[reason] {
					t.Errorf("sessions_closes_total{reason=%q}: got %v; want %v", reason, got, tt.closes[reason])
				}
			}
		})
	}
}

func TestOpenResultsAreCountedByResult(t *testing.T) {
	c := NewCounters(controllerLocator)
	for _, r := range []string{logic.OpenOK, logic.OpenOK, logic.OpenDenied, logic.OpenEvicted, logic.OpenOK} {
		c.OpenResult(r)
	}
	for result, want := range map[string]float64{"ok": 3, "denied": 1, "evicted": 1} {
		if got := testutil.ToFloat64(c.opens.WithLabelValues(result)); got != want {
			t.Errorf("sessions_opens_total{result=%q}: got %v; want %v", result, got, want)
		}
	}
}

func TestEveryResultAndReasonIsExposedBeforeItHappens(t *testing.T) {
	c := NewCounters(controllerLocator)
	if n := testutil.CollectAndCount(c.opens); n != 3 {
		t.Errorf("sessions_opens_total series: got %d; want 3", n)
	}
	if n := testutil.CollectAndCount(c.closes); n != 4 {
		t.Errorf("sessions_closes_total series: got %d; want 4", n)
	}
}

func TestCommandAndStoreDurationsAreObserved(t *testing.T) {
	c := NewCounters(controllerLocator)
	c.CommandDone("v1/sessions", "open_session", 3*time.Millisecond, 200)
	c.CommandDone("v1/sessions", "open_session", 2*time.Millisecond, 500)
	c.CommandDone("v1/sessions", "close_session", time.Millisecond, 200)
	c.StoreDone("create", 200*time.Microsecond)

	want := `
# HELP sessions_request_errors_total Commands that answered an error, by route, command and HTTP status (4xx: refused input, 5xx: a failure).
# TYPE sessions_request_errors_total counter
sessions_request_errors_total{command="open_session",route="v1/sessions",status="500"} 1
`
	if err := testutil.GatherAndCompare(c.Registry(), strings.NewReader(want), "sessions_request_errors_total"); err != nil {
		t.Error(err)
	}
	families, err := c.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				key := f.GetName()
				for _, l := range m.GetLabel() {
					key += " " + l.GetName() + "=" + l.GetValue()
				}
				counts[key] = h.GetSampleCount()
			}
		}
	}
	for key, want := range map[string]uint64{
		"sessions_request_duration_seconds command=open_session route=v1/sessions":  2,
		"sessions_request_duration_seconds command=close_session route=v1/sessions": 1,
		"sessions_store_duration_seconds operation=create":                          1,
	} {
		if counts[key] != want {
			t.Errorf("%s count: got %d; want %d", key, counts[key], want)
		}
	}
}

// hubOwner stands for the controller: something with an event hub.
type hubOwner struct{ hub *events.Hub }

func (h hubOwner) Events() *events.Hub { return h.hub }

func TestSubscriberGaugesReadTheHubAtScrapeTime(t *testing.T) {
	hub := events.NewHub(events.Options{SubscriberBuffer: 1}, nil)
	refs := container.NewReferences()
	refs.Put(container.MustDescriptor("service-sessions:controller:default:default:1.0"), hubOwner{hub})
	c := NewCounters(controllerLocator)
	if err := c.SetReferences(refs); err != nil {
		t.Fatal(err)
	}
	gauges := func() (subscribers, devices, dropped float64) {
		t.Helper()
		families, err := c.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				switch f.GetName() {
				case "sessions_event_subscribers":
					subscribers = m.GetGauge().GetValue()
				case "sessions_device_streams":
					devices = m.GetGauge().GetValue()
				case "sessions_dropped_subscribers_total":
					dropped = m.GetCounter().GetValue()
				}
			}
		}
		return subscribers, devices, dropped
	}

	if s, d, x := gauges(); s != 0 || d != 0 || x != 0 {
		t.Fatalf("at start: got %v subscribers, %v devices, %v dropped; want 0, 0, 0", s, d, x)
	}
	reader, err := hub.Subscribe(t.Context(), events.Filter{}, events.Resume{})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if _, err := hub.Subscribe(t.Context(), events.Filter{}, events.Resume{}); err != nil {
		t.Fatal(err)
	}
	stream, err := hub.Listen("s1")
	if err != nil {
		t.Fatal(err)
	}
	if s, d, x := gauges(); s != 2 || d != 1 || x != 0 {
		t.Errorf("connected: got %v subscribers, %v devices, %v dropped; want 2, 1, 0", s, d, x)
	}
	// Nobody reads: the second event overflows both subscribers' buffers of one.
	hub.Publish(t.Context(), sessions.EventOpened, &sessions.Session{ID: "s2", Active: true})
	hub.Publish(t.Context(), sessions.EventOpened, &sessions.Session{ID: "s3", Active: true})
	stream.Close()
	if s, d, x := gauges(); s != 0 || d != 0 || x != 2 {
		t.Errorf("cut off: got %v subscribers, %v devices, %v dropped; want 0, 0, 2", s, d, x)
	}
}

func TestWithoutAControllerTheHubGaugesAreLeftOut(t *testing.T) {
	c := NewCounters(controllerLocator)
	if err := c.SetReferences(container.NewReferences()); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(c.Registry(), "sessions_event_subscribers", "sessions_device_streams")
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("hub series: got %d; want 0", n)
	}
}

func TestMetricNamesFollowThePrometheusConventions(t *testing.T) {
	c := NewCounters(controllerLocator)
	refs := container.NewReferences()
	refs.Put(container.MustDescriptor("service-sessions:controller:default:default:1.0"), hubOwner{events.NewHub(events.Options{}, nil)})
	if err := c.SetReferences(refs); err != nil {
		t.Fatal(err)
	}
	c.CommandDone("v1/sessions", "open_session", time.Millisecond, 500)
	c.StoreDone("create", time.Millisecond)
	problems, err := testutil.GatherAndLint(c.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "sessions_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}
