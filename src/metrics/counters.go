// Package metrics publishes what the service does in the Prometheus format:
// the counters that follow sessions, requests and the store, and the service
// that serves them at GET /metrics.
package metrics

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/events"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/service"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// CountersLocator finds the Prometheus counters among the references.
var CountersLocator = container.Descriptor{Group: "pip-services", Type: "counters", Kind: "prometheus", Name: "*", Version: "1.0"}

var (
	_ logic.Meter      = (*Counters)(nil)
	_ service.Counters = (*Counters)(nil)
	_ service.Refusals = (*Counters)(nil)
)

// Buckets of the duration histograms, in seconds. Requests over the file or
// memory store take well under a millisecond, over MongoDB a few: the
// buckets start low enough to tell those apart.
var (
	requestBuckets = []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
	storeBuckets   = []float64{.00005, .0001, .0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
)

// Counters is the pip-services:counters:prometheus component. It is the
// controller's meter (sessions, opens, closes, store timings) and the
// commandable service's counters (request timings), and it reads the event
// hub's subscribers when a scrape asks. Its metrics live in a registry of
// its own, which the metrics service serves.
type Counters struct {
	controller container.Descriptor
	registry   *prometheus.Registry

	active        prometheus.Gauge
	opens         *prometheus.CounterVec
	closes        *prometheus.CounterVec
	requests      *prometheus.HistogramVec
	requestErrors *prometheus.CounterVec
	refused       *prometheus.CounterVec
	store         *prometheus.HistogramVec

	// The series every request observes, by route and command (commandKey)
	// and by store operation (string): looked up once, so that a request
	// neither hashes its labels nor takes the vectors' lock.
	requestSeries sync.Map
	storeSeries   sync.Map
}

type commandKey struct{ route, command string }

// NewCounters returns the counters, with the Go runtime and process
// collectors registered. controller locates the component whose event hub
// the subscriber gauges read; without one those gauges are left out.
func NewCounters(controller container.Descriptor) *Counters {
	c := &Counters{
		controller: controller,
		registry:   prometheus.NewRegistry(),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessions_active",
			Help: "Sessions open now, across every instance sharing the store.",
		}),
		opens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessions_opens_total",
			Help: "open_session calls of this instance by result: ok, denied (quota full) or evicted (closed the oldest session to make room).",
		}, []string{"result"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessions_closes_total",
			Help: "Sessions this instance ended, by reason: closed, expired, evicted or deleted.",
		}, []string{"reason"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sessions_request_duration_seconds",
			Help:    "Time to execute a command over HTTP, by route and command.",
			Buckets: requestBuckets,
		}, []string{"route", "command"}),
		requestErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessions_request_errors_total",
			Help: "Commands that answered an error, by route, command and HTTP status (4xx: refused input, 5xx: a failure).",
		}, []string{"route", "command", "status"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessions_requests_refused_total",
			Help: "Requests the HTTP endpoint refused before any command, by status: 400 (a body it could not read or inflate), 401 (no valid API key), 404, 405, 413 (a declared body too large), 415 (not JSON, or not a gzip or plain body).",
		}, []string{"status"}),
		store: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sessions_store_duration_seconds",
			Help:    "Time of one persistence operation, by operation.",
			Buckets: storeBuckets,
		}, []string{"operation"}),
	}
	// Every result and reason is shown from the start, at zero, so that
	// rate() and alerts see a series before the first one happens.
	for _, r := range []string{logic.OpenOK, logic.OpenDenied, logic.OpenEvicted} {
		c.opens.WithLabelValues(r)
	}
	for _, r := range []string{sessions.EventClosed, sessions.EventExpired, sessions.EventEvicted, sessions.EventDeleted} {
		c.closes.WithLabelValues(r)
	}
	for _, status := range service.RefusalStatuses() {
		c.refused.WithLabelValues(strconv.Itoa(status))
	}
	c.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		c.active, c.opens, c.closes, c.requests, c.requestErrors, c.refused, c.store,
	)
	return c
}

// Registry returns the registry the counters are kept in.
func (c *Counters) Registry() *prometheus.Registry { return c.registry }

// eventSource is a controller with an event hub.
type eventSource interface {
	Events() *events.Hub
}

// SetReferences finds the controller and, when it has an event hub,
// registers gauges that read the hub's subscribers at scrape time.
func (c *Counters) SetReferences(refs *container.References) error {
	src, ok := container.Optional[eventSource](refs, c.controller)
	if !ok {
		return nil
	}
	hub := src.Events()
	err := registerAll(c.registry,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sessions_event_subscribers",
			Help: "Clients connected to the session event stream of this instance.",
		}, func() float64 {
			n, _ := hub.Subscribers()
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sessions_device_streams",
			Help: "Devices connected to their notification stream on this instance.",
		}, func() float64 {
			_, n := hub.Subscribers()
			return float64(n)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sessions_dropped_subscribers_total",
			Help: "Event subscribers and device streams of this instance cut off for falling behind.",
		}, func() float64 { return float64(hub.Dropped()) }),
	)
	if err != nil {
		return fmt.Errorf("register the event hub gauges: %w", err)
	}
	return nil
}

func registerAll(r prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// ActiveSessions sets the active sessions gauge; the controller calls it at
// open, and events move the gauge from there.
func (c *Counters) ActiveSessions(n int64) { c.active.Set(float64(n)) }

// SessionEvent follows one session event. The active gauge follows every
// event, from this instance or another, because it counts the sessions of
// the shared store; the closes count only this instance's events, so that
// their sum over instances counts each close once. Deleting a session that
// was already closed ends nothing and is not counted.
func (c *Counters) SessionEvent(e sessions.Event, local bool) {
	switch e.Type {
	case sessions.EventOpened:
		c.active.Inc()
		return
	case sessions.EventClosed, sessions.EventExpired, sessions.EventEvicted:
	case sessions.EventDeleted:
		// Only the deletion of a session never closed ends one. Its event
		// may show it inactive all the same: a session whose lease lapsed
		// before the sweep closed it is shown as it answers, inactive, yet
		// it is still counted.
		if e.Session == nil || !e.Session.CloseTime.IsZero() {
			return
		}
	default:
		return
	}
	c.active.Dec()
	if local {
		c.closes.WithLabelValues(e.Type).Inc()
	}
}

// OpenResult counts one open_session by result.
func (c *Counters) OpenResult(result string) { c.opens.WithLabelValues(result).Inc() }

// StoreDone records how long one persistence operation took.
func (c *Counters) StoreDone(op string, d time.Duration) {
	o, ok := c.storeSeries.Load(op)
	if !ok {
		o, _ = c.storeSeries.LoadOrStore(op, c.store.WithLabelValues(op))
	}
	o.(prometheus.Observer).Observe(d.Seconds())
}

// RequestRefused counts one request the endpoint refused before any command.
func (c *Counters) RequestRefused(status int) {
	c.refused.WithLabelValues(strconv.Itoa(status)).Inc()
}

// CommandDone records how long one command took over HTTP, and counts it as
// an error, by status, when it answered 4xx or 5xx. The error series of a
// command appears at its first error.
func (c *Counters) CommandDone(route, command string, d time.Duration, status int) {
	key := commandKey{route, command}
	o, ok := c.requestSeries.Load(key)
	if !ok {
		o, _ = c.requestSeries.LoadOrStore(key, c.requests.WithLabelValues(route, command))
	}
	o.(prometheus.Observer).Observe(d.Seconds())
	if status >= 400 {
		c.requestErrors.WithLabelValues(route, command, strconv.Itoa(status)).Inc()
	}
}
