package logging

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// A line is one JSON object with its time in ISO 8601 and its durations in
// milliseconds, the unit of the config and of Pip.Services' counters.
func TestALogLineIsJSONWithDurationsInMilliseconds(t *testing.T) {
	var out bytes.Buffer
	l := newLogger(zapcore.AddSync(&out))
	l.Named("test").Info("compacted", zap.Duration("took", 1500*time.Microsecond))

	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("line %q: %v; want one JSON object", out.String(), err)
	}
	if line["took"] != 1.5 || line["logger"] != "test" || line["msg"] != "compacted" {
		t.Errorf("line: got %v; want took 1.5 (ms) from logger test", line)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z0700", line["time"].(string)); err != nil {
		t.Errorf("time: %v; want ISO 8601 with milliseconds", err)
	}
}
