package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/service"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestServiceServesTheCountersAsText(t *testing.T) {
	ep := service.NewEndpoint()
	if err := ep.Configure(container.Config{"connection": map[string]any{"host": "127.0.0.1", "port": 0}}); err != nil {
		t.Fatal(err)
	}
	counters := NewCounters(controllerLocator)
	counters.OpenResult(logic.OpenDenied)
	refs := container.NewReferences()
	refs.Put(container.MustDescriptor("pip-services:endpoint:http:default:1.0"), ep)
	refs.Put(container.MustDescriptor("pip-services:counters:prometheus:default:1.0"), counters)
	if err := NewService().SetReferences(refs); err != nil {
		t.Fatal(err)
	}
	if err := ep.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ep.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})

	resp, err := http.Get(ep.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: got %d; want 200 (%s)", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("content type: got %q; want text/plain", ct)
	}
	for _, want := range []string{
		`sessions_opens_total{result="denied"} 1`,
		"# TYPE sessions_active gauge",
		"# TYPE go_goroutines gauge",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body has no %q", want)
		}
	}
}

func TestServiceNeedsThePrometheusCounters(t *testing.T) {
	refs := container.NewReferences()
	refs.Put(container.MustDescriptor("pip-services:endpoint:http:default:1.0"), service.NewEndpoint())
	err := NewService().SetReferences(refs)
	if err == nil || !strings.Contains(err.Error(), "pip-services:counters:prometheus:default:1.0") {
		t.Errorf("got %v; want an error naming the Prometheus counters", err)
	}
}

// What a client does to its scrape is no news at info: any client can do
// it on every request. A collector that fails is.
func TestAScrapeTheClientSpoiledIsLoggedAtDebugAndAFailedGatherAsAWarning(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := scrapeLog{zap.New(core)}
	log.Println("error encoding and sending metric family:", errors.New("write: connection reset by peer"))
	log.Println("error getting writer", errors.New("content compression format not recognized"))
	log.Println("error gathering metrics:", errors.New("collector failed"))

	got := logs.All()
	if len(got) != 3 || got[0].Level != zapcore.DebugLevel || got[1].Level != zapcore.DebugLevel ||
		got[2].Level != zapcore.WarnLevel || got[2].Message != "error gathering metrics: collector failed" {
		t.Errorf("got %v; want the cut scrape and the refused encoding at debug, then the failed gather as a warning", got)
	}
}
