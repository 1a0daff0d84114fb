package metrics

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logging"
	"github.com/sessionsd/service-sessions-go/src/service"
)

// Service is the pip-services:metrics-service:prometheus component: GET
// /metrics on the shared endpoint serves the Prometheus counters in the text
// exposition format. Like every route but /heartbeat, it needs an API key
// when the endpoint has some.
type Service struct{}

// NewService returns the metrics service.
func NewService() *Service { return &Service{} }

// SetReferences finds the endpoint and the Prometheus counters and registers
// the route.
func (s *Service) SetReferences(refs *container.References) error {
	ep, err := container.Required[*service.Endpoint](refs, service.EndpointLocator)
	if err != nil {
		return err
	}
	counters, ok := container.Optional[*Counters](refs, CountersLocator)
	if !ok {
		return fmt.Errorf("the metrics service serves the Prometheus counters: add %s to the config",
			container.Descriptor{Group: "pip-services", Type: "counters", Kind: "prometheus", Name: "default", Version: "1.0"})
	}
	reg := counters.Registry()
	log := logging.For(refs, "metrics")
	ep.Router().Method(http.MethodGet, "/metrics", promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: scrapeLog{log},
		Registry: reg,
	})))
	return nil
}

// scrapeLog tells what went wrong with a scrape: a collector that failed as
// a warning, anything else at debug, since it is the client's doing (a
// scrape it cut short, an encoding it refuses) and any client can do it on
// every request.
type scrapeLog struct{ log *zap.Logger }

func (l scrapeLog) Println(v ...any) {
	msg := strings.TrimSuffix(fmt.Sprintln(v...), "\n")
	if strings.HasPrefix(msg, "error gathering metrics") {
		l.log.Warn(msg)
		return
	}
	l.log.Debug(msg)
}
