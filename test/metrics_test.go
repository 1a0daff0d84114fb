package test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads GET /metrics, with the header (name, value pairs) given, and
// parses the text exposition format.
func scrape(t *testing.T, base string, header ...string) metricFamilies {
	t.Helper()
	r := call(t, http.MethodGet, base+"/metrics", nil, header...)
	wantStatus(t, r, http.StatusOK)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("GET /metrics is not the Prometheus text format: %v", err)
	}
	return families
}

// metricFamilies are the metrics of one scrape, by name.
type metricFamilies map[string]*dto.MetricFamily

// metric returns the series of name whose labels include labels (name,
// value pairs), or nil.
func (f metricFamilies) metric(name string, labels ...string) *dto.Metric {
	fam := f[name]
	if fam == nil {
		return nil
	}
next:
	for _, m := range fam.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			if labelValue(m, labels[i]) != labels[i+1] {
				continue next
			}
		}
		return m
	}
	return nil
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// value returns the value of a gauge or counter series, or -1 when the
// series is missing.
func (f metricFamilies) value(name string, labels ...string) float64 {
	m := f.metric(name, labels...)
	switch {
	case m == nil:
		return -1
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// samples returns how many observations a histogram series holds, or -1
// when it is missing.
func (f metricFamilies) samples(name string, labels ...string) int64 {
	m := f.metric(name, labels...)
	if m == nil || m.Histogram == nil {
		return -1
	}
	return int64(m.GetHistogram().GetSampleCount())
}

// wantValue fails the test when a gauge or counter series of a scrape has
// another value.
func wantValue(t *testing.T, f metricFamilies, want float64, name string, labels ...string) {
	t.Helper()
	if got := f.value(name, labels...); got != want {
		t.Errorf("%s%v: got %v; want %v", name, labels, got, want)
	}
}

func TestMetricsFollowTheSessions(t *testing.T) {
	base := startMemory(t)

	m := scrape(t, base)
	wantValue(t, m, 0, "sessions_active")
	for _, result := range []string{"ok", "denied", "evicted"} {
		wantValue(t, m, 0, "sessions_opens_total", "result", result)
	}

	var ids []string
	for _, device := range []string{"d1", "d2", "d3"} {
		ids = append(ids, openSession(t, base, map[string]any{"user_id": "u1", "device_id": device})["id"].(string))
	}
	m = scrape(t, base)
	wantValue(t, m, 3, "sessions_active")
	wantValue(t, m, 3, "sessions_opens_total", "result", "ok")

	wantStatus(t, command(t, base, "close_session", map[string]any{"session_id": ids[0]}), http.StatusOK)
	m = scrape(t, base)
	wantValue(t, m, 2, "sessions_active")
	wantValue(t, m, 1, "sessions_closes_total", "reason", "closed")

	// A closed session deleted ends nothing; an active one deleted does.
	wantStatus(t, command(t, base, "delete_session_by_id", map[string]any{"session_id": ids[0]}), http.StatusOK)
	wantStatus(t, command(t, base, "delete_session_by_id", map[string]any{"session_id": ids[1]}), http.StatusOK)
	m = scrape(t, base)
	wantValue(t, m, 1, "sessions_active")
	wantValue(t, m, 1, "sessions_closes_total", "reason", "deleted")

	wantStatus(t, homes(t, base, "set_home", map[string]any{"home": map[string]any{"id": "acct", "max_sessions": 1}}), http.StatusOK)
	openSession(t, base, map[string]any{"user_id": "acct", "device_id": "tv"})
	wantStatus(t, command(t, base, "open_session", map[string]any{"user_id": "acct", "device_id": "phone"}), http.StatusConflict)
	m = scrape(t, base)
	wantValue(t, m, 2, "sessions_active")
	wantValue(t, m, 4, "sessions_opens_total", "result", "ok")
	wantValue(t, m, 1, "sessions_opens_total", "result", "denied")

	wantStatus(t, homes(t, base, "set_home", map[string]any{"home": map[string]any{
		"id": "family", "max_sessions": 1, "policy": "evict_oldest"}}), http.StatusOK)
	openSession(t, base, map[string]any{"user_id": "family", "device_id": "tv"})
	openSession(t, base, map[string]any{"user_id": "family", "device_id": "phone"})
	m = scrape(t, base)
	wantValue(t, m, 3, "sessions_active")
	wantValue(t, m, 5, "sessions_opens_total", "result", "ok")
	wantValue(t, m, 1, "sessions_opens_total", "result", "evicted")
	wantValue(t, m, 1, "sessions_closes_total", "reason", "evicted")
	wantValue(t, m, 0, "sessions_closes_total", "reason", "expired")

	// Seven open_session calls, the refused one among them.
	if n := m.samples("sessions_request_duration_seconds", "route", "v1/sessions", "command", "open_session"); n != 7 {
		t.Errorf("open_session request durations: got %d; want 7", n)
	}
	wantValue(t, m, 1, "sessions_request_errors_total", "route", "v1/sessions", "command", "open_session", "status", "409")
	if n := m.samples("sessions_request_duration_seconds", "route", "v1/homes", "command", "set_home"); n != 2 {
		t.Errorf("set_home request durations: got %d; want 2", n)
	}
	// The Cloudstate routes are timed too, under their own route.
	wantStatus(t, call(t, http.MethodPost, base+"/home/family/sessions/create", map[string]any{"device_id": "laptop"}), http.StatusOK)
	wantStatus(t, call(t, http.MethodPost, base+"/home/family/sessions/heartbeat", map[string]any{}), http.StatusBadRequest)
	m = scrape(t, base)
	if n := m.samples("sessions_request_duration_seconds", "route", "cloudstate", "command", "create_session"); n != 1 {
		t.Errorf("Cloudstate create durations: got %d; want 1", n)
	}
	wantValue(t, m, 1, "sessions_request_errors_total", "route", "cloudstate", "command", "heartbeat", "status", "400")
	if n := m.samples("sessions_store_duration_seconds", "operation", "create"); n < 1 {
		t.Errorf("store create durations: got %d; want at least 1", n)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if m[name] == nil {
			t.Errorf("%s is missing", name)
		}
	}
}

// A session whose lease lapsed, deleted before any sweep closed it, leaves
// the active gauge: the gauge counts it until then.
func TestTheActiveGaugeForgetsALapsedSessionDeletedBeforeTheSweep(t *testing.T) {
	base := startMemory(t)
	wantStatus(t, homes(t, base, "set_home", map[string]any{"home": map[string]any{"id": "acct", "max_sessions": 2, "lease_timeout": 1000}}), http.StatusOK)
	id := openSession(t, base, map[string]any{"user_id": "acct"})["id"].(string)
	wantValue(t, scrape(t, base), 1, "sessions_active")
	time.Sleep(1100 * time.Millisecond) // past the lease, long before the sweep
	wantStatus(t, command(t, base, "delete_session_by_id", map[string]any{"session_id": id}), http.StatusOK)
	m := scrape(t, base)
	wantValue(t, m, 0, "sessions_active")
	wantValue(t, m, 1, "sessions_closes_total", "reason", "deleted")
}

func TestMetricsCountTheStreams(t *testing.T) {
	base := startMemory(t)
	session := openSession(t, base, map[string]any{"user_id": "u1"})

	wantStreams := func(subscribers, devices float64) {
		t.Helper()
		var m metricFamilies
		for deadline := time.Now().Add(5 * time.Second); ; {
			m = scrape(t, base)
			if m.value("sessions_event_subscribers") == subscribers && m.value("sessions_device_streams") == devices {
				return
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("streams: got %v subscribers and %v devices; want %v and %v",
			m.value("sessions_event_subscribers"), m.value("sessions_device_streams"), subscribers, devices)
	}

	wantStreams(0, 0)
	stopEvents := connect(t, base+"/v1/sessions/events")
	wantStreams(1, 0)
	stopDevice := connect(t, base+"/v1/sessions/notifications?session_id="+session["id"].(string))
	wantStreams(1, 1)
	stopEvents()
	wantStreams(0, 1)
	stopDevice()
	wantStreams(0, 0)
	wantValue(t, scrape(t, base), 0, "sessions_dropped_subscribers_total")
}

// connect opens a Server-Sent Events stream and returns the function that
// disconnects it.
func connect(t *testing.T, url string) (disconnect func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		t.Fatalf("GET %s: got %d; want 200", url, resp.StatusCode)
	}
	disconnect = func() {
		cancel()
		resp.Body.Close()
	}
	t.Cleanup(disconnect)
	return disconnect
}

// refusalsConfig is the API key config with the Prometheus metrics.
var refusalsConfig = apiKeyConfig + `- descriptor: "pip-services:counters:prometheus:default:1.0"
- descriptor: "pip-services:metrics-service:prometheus:default:1.0"
`

// Requests the endpoint refuses before any command are counted by status,
// as the errors a command answers are.
func TestMetricsCountRequestsRefusedBeforeAnyCommand(t *testing.T) {
	base, _ := startText(t, refusalsConfig, nil)
	key := []string{"Authorization", "Bearer key-one"}

	m := scrape(t, base, key...)
	for _, status := range []string{"400", "401", "404", "405", "413", "415"} {
		wantValue(t, m, 0, "sessions_requests_refused_total", "status", status)
	}
	open := base + "/v1/sessions/open_session"
	wantStatus(t, call(t, http.MethodPost, open, map[string]any{"user_id": "u1"}), http.StatusUnauthorized)
	wantStatus(t, call(t, http.MethodPost, open, map[string]any{"user_id": "u1"}, "Authorization", "Bearer nope"), http.StatusUnauthorized)
	wantStatus(t, call(t, http.MethodPost, base+"/v1/sessions/no_such_command", nil, key...), http.StatusNotFound)
	wantStatus(t, call(t, http.MethodGet, open, nil, key...), http.StatusMethodNotAllowed)
	wantStatus(t, call(t, http.MethodPost, open, map[string]any{"data": strings.Repeat("x", 2<<20)}, key...), http.StatusRequestEntityTooLarge)
	wantStatus(t, call(t, http.MethodPost, open, map[string]any{"user_id": "u1"}, append(key, "Content-Type", "text/plain")...), http.StatusUnsupportedMediaType)
	wantStatus(t, call(t, http.MethodPost, open, map[string]any{"user_id": "u1"}, append(key, "Content-Encoding", "gzip")...), http.StatusBadRequest) // no gzip

	m = scrape(t, base, key...)
	for status, want := range map[string]float64{"400": 1, "401": 2, "404": 1, "405": 1, "413": 1, "415": 1} {
		wantValue(t, m, want, "sessions_requests_refused_total", "status", status)
	}
	if m.metric("sessions_request_errors_total", "command", "open_session") != nil {
		t.Error("sessions_request_errors_total counts open_session; want the refused requests only in sessions_requests_refused_total")
	}
}
