// Package logging holds the zap console logger component and the log
// counters component.
package logging

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Locator finds the logger among the references.
var Locator = container.Descriptor{Group: "pip-services", Type: "logger", Kind: "*", Name: "*", Version: "1.0"}

// Logger is the pip-services:logger:console component: structured lines on
// standard error at the configured level.
type Logger struct {
	level zap.AtomicLevel
	log   *zap.Logger
}

// NewConsole returns a console logger at info level.
func NewConsole() *Logger { return newLogger(zapcore.Lock(os.Stderr)) }

// newLogger returns a logger of JSON lines to w: the time in ISO 8601,
// durations in milliseconds, as the config gives them and as Pip.Services'
// counters log them.
func newLogger(w zapcore.WriteSyncer) *Logger {
	l := &Logger{level: zap.NewAtomicLevelAt(zapcore.InfoLevel)}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = func(d time.Duration, pe zapcore.PrimitiveArrayEncoder) {
		pe.AppendFloat64(float64(d) / float64(time.Millisecond)) // zap's own cuts to whole ones
	}
	l.log = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), w, l.level))
	return l
}

// Configure reads level: trace, debug, info, warn, error, fatal or none.
func (l *Logger) Configure(cfg container.Config) error {
	level, err := parseLevel(cfg.String("level", "info"))
	if err != nil {
		return err
	}
	l.level.SetLevel(level)
	return nil
}

// parseLevel maps Pip level names onto zap levels; Pip's trace is zap's debug.
func parseLevel(s string) (zapcore.Level, error) {
	switch strings.ToLower(s) {
	case "trace", "debug", "5", "6":
		return zapcore.DebugLevel, nil
	case "info", "4":
		return zapcore.InfoLevel, nil
	case "warn", "warning", "3":
		return zapcore.WarnLevel, nil
	case "error", "2":
		return zapcore.ErrorLevel, nil
	case "fatal", "1":
		return zapcore.FatalLevel, nil
	case "none", "nothing", "0":
		return zapcore.InvalidLevel, nil
	}
	return 0, fmt.Errorf("level: %q is not one of trace, debug, info, warn, error, fatal, none", s)
}

// Named returns the logger for one component.
func (l *Logger) Named(name string) *zap.Logger { return l.log.Named(name) }

// Close makes the lines written durable when the log goes to a file.
// Lines go to stderr unbuffered, so a terminal or a pipe, which cannot be
// synced (each system refuses it in its own words), loses nothing.
func (l *Logger) Close(context.Context) error {
	if info, err := os.Stderr.Stat(); err != nil || !info.Mode().IsRegular() {
		return nil
	}
	if err := l.log.Sync(); err != nil {
		return fmt.Errorf("flush log: %w", err)
	}
	return nil
}

// For returns the named logger of the process, or a logger that drops
// everything when the configuration has none.
func For(refs *container.References, name string) *zap.Logger {
	if l, ok := container.Optional[interface{ Named(string) *zap.Logger }](refs, Locator); ok {
		return l.Named(name)
	}
	return zap.NewNop()
}

// Correlation returns the field that ties a log line to its request.
func Correlation(ctx context.Context) zap.Field {
	return zap.String("correlation_id", sessions.CorrelationID(ctx))
}
