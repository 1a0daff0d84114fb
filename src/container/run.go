package container

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// DefaultConfigPath is the config file Run reads when no -c flag is given.
const DefaultConfigPath = "./config/config.yml"

// Usage is the command-line help Run prints for -h.
const Usage = `Usage: service-sessions [-c FILE] [-p "K=V;K2=V2"]

Starts the sessions microservice from a Pip.Services config file: a YAML list
of components, each named by a descriptor, rendered as a template first.

Options:
  -c, --config FILE       config file (default ` + DefaultConfigPath + `)
  -p, --param, --params "K=V;K2=V2"
                          template parameters; may be repeated
  --healthcheck URL       GET URL (say http://127.0.0.1:8080/heartbeat) and
                          exit 0 when it answers 2xx, else 1, for container
                          health checks in images without a shell; an https
                          URL on this host is not held to its certificate
  --backup FILE           copy the store of the configured file persistence
                          to FILE, one snapshot file, while the service may
                          be running on it, and exit (see the README)
  --restore FILE          put the backup FILE in place of the store of the
                          configured file persistence, whose service must
                          be stopped, keeping its files aside, and exit
  --version               print the version and the commit it was built
                          from, and exit
  -h, --help              show this help

Every environment variable is a template parameter too, and overrides a -p
value of the same name. Names are case-insensitive.
`

// Options is the parsed command line of the process.
type Options struct {
	// ConfigPath is the config file to read.
	ConfigPath string
	// Params holds the template parameters, keyed by upper-case name:
	// the -p values overridden by the environment.
	Params map[string]string
	// Help is set when -h or --help was given.
	Help bool
	// Version is set when --version was given.
	Version bool
	// Healthcheck, when set, is the URL to check instead of running.
	Healthcheck string
	// Backup, when set, is the file to back the configured store up to
	// instead of running.
	Backup string
	// Restore, when set, is the backup to put in place of the configured
	// store instead of running.
	Restore string
}

// ParseArgs parses the command line (without the program name) and the
// environment ("K=V" strings) into Options. Environment variables override
// -p values; names are case-insensitive.
func ParseArgs(args, environ []string) (Options, error) {
	opts := Options{Params: map[string]string{}}
	fs := flag.NewFlagSet("service-sessions", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&opts.ConfigPath, "c", DefaultConfigPath, "config file")
	fs.StringVar(&opts.ConfigPath, "config", DefaultConfigPath, "config file")
	var params []string
	collect := func(s string) error {
		params = append(params, s)
		return nil
	}
	fs.Func("p", "template parameters", collect)
	fs.Func("param", "template parameters", collect)
	fs.Func("params", "template parameters", collect)
	fs.StringVar(&opts.Healthcheck, "healthcheck", "", "URL to check")
	fs.StringVar(&opts.Backup, "backup", "", "file to back the store up to")
	fs.StringVar(&opts.Restore, "restore", "", "backup to restore the store from")
	fs.BoolVar(&opts.Help, "h", false, "show help")
	fs.BoolVar(&opts.Help, "help", false, "show help")
	fs.BoolVar(&opts.Version, "version", false, "print the version")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			opts.Help = true
			return opts, nil
		}
		return Options{}, fmt.Errorf("invalid arguments: %w (see --help)", err)
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("invalid arguments: unexpected %q (see --help)", fs.Arg(0))
	}
	// Given empty (a variable left unset in a script), these would start
	// the service instead of doing what was asked.
	var empty error
	fs.Visit(func(f *flag.Flag) {
		if (f.Name == "backup" || f.Name == "restore" || f.Name == "healthcheck") && f.Value.String() == "" {
			empty = fmt.Errorf("invalid arguments: --%s needs a value (see --help)", f.Name)
		}
	})
	if empty != nil {
		return Options{}, empty
	}
	if opts.Backup != "" && opts.Restore != "" {
		return Options{}, errors.New("invalid arguments: --backup and --restore together (see --help)")
	}
	for _, p := range params {
		if err := parseParams(opts.Params, p); err != nil {
			return Options{}, fmt.Errorf("invalid arguments: -p %q: %w", p, err)
		}
	}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		opts.Params[strings.ToUpper(k)] = v
	}
	return opts, nil
}

// parseParams adds "K=V;K2=V2" to dst, as Pip.Services reads config
// parameters: keys and values are trimmed, empty parts are skipped.
func parseParams(dst map[string]string, s string) error {
	for part := range strings.SplitSeq(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return fmt.Errorf("%q is not K=V", strings.TrimSpace(part))
		}
		dst[strings.ToUpper(k)] = strings.TrimSpace(v)
	}
	return nil
}

// namedLogger is what Run looks for among the components to log with; the
// console logger component provides it.
type namedLogger interface {
	Named(name string) *zap.Logger
}

var anyDescriptor = Descriptor{"*", "*", "*", "*", "*"}

// Run is the process: it reads the command line and environment, builds the
// components from the config file with factories, opens them, waits until
// ctx is done (the caller cancels it on SIGINT or SIGTERM), then closes them
// in reverse, each in its own time (see Process.Close). It returns nil
// after a clean stop, and after printing the help for -h or the version
// for --version.
func Run(ctx context.Context, factories []Factory, args []string, environ []string) error {
	opts, err := ParseArgs(args, environ)
	if err != nil {
		return err
	}
	if done, err := runTool(ctx, opts); done {
		return err
	}
	text, err := os.ReadFile(opts.ConfigPath)
	if err != nil {
		return fmt.Errorf("config error: %w", err)
	}
	p, err := build(factories, string(text), opts.Params)
	if err != nil {
		return fmt.Errorf("config error: %s: %w", opts.ConfigPath, err)
	}
	switch {
	case opts.Backup != "":
		b, err := theFileStore[backuper](p, "--backup")
		if err != nil {
			return err
		}
		return b.Backup(ctx, opts.Backup)
	case opts.Restore != "":
		r, err := theFileStore[restorer](p, "--restore")
		if err != nil {
			return err
		}
		return r.Restore(ctx, opts.Restore)
	}
	return serve(ctx, p, opts, string(text))
}

// runTool runs what needs no config: the help, the version or a health
// check. It reports whether it ran one.
func runTool(ctx context.Context, opts Options) (bool, error) {
	switch {
	case opts.Help:
		if _, err := io.WriteString(os.Stdout, Usage); err != nil {
			return true, fmt.Errorf("print help: %w", err)
		}
		return true, nil
	case opts.Version:
		if _, err := fmt.Fprintln(os.Stdout, Version()); err != nil {
			return true, fmt.Errorf("print version: %w", err)
		}
		return true, nil
	case opts.Healthcheck != "":
		return true, checkHealth(ctx, opts.Healthcheck)
	}
	return false, nil
}

// serve opens p, whose config is text, waits until ctx is done, and closes
// it.
func serve(ctx context.Context, p *Process, opts Options, text string) error {
	log := zap.NewNop()
	if l, ok := Optional[namedLogger](p.References(), anyDescriptor); ok {
		log = l.Named("container")
	}
	fields := []zap.Field{zap.String("config", opts.ConfigPath)}
	if info, ok := Optional[*ContextInfo](p.References(), ContextInfoLocator); ok {
		fields = append(fields, zap.String("name", info.Name()), zap.String("context_id", info.ContextID()))
	}

	if !slices.ContainsFunc(p.components, func(c any) bool { _, ok := c.(server); return ok }) {
		log.Warn("no component serves requests: the config starts no endpoint (the Node service's config starts one with HTTP_ENABLED=true)")
	}
	for _, param := range falseLooking(text, opts.Params) {
		log.Warn("a template parameter set to a value that reads as false counts as true: any value but an empty one turns its {{#if}} on; unset it to turn it off",
			zap.String("parameter", param.Name), zap.String("value", param.Value))
	}

	if err := p.Open(ctx); err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			log.Info("start-up interrupted", fields...)
			return nil
		}
		return err
	}
	log.Info("started", append(fields, zap.String("version", Version()), zap.Stringers("components", p.descriptors))...)

	<-ctx.Done()
	log.Info("stopping", fields...)
	if err := p.Close(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	log.Info("stopped", fields...)
	return nil
}

// server is a component that serves requests: an endpoint, which tells
// the URL it serves at.
type server interface{ URL() string }

// backuper is a component that can copy what it stores while a service
// runs on it: the file persistence.
type backuper interface {
	Backup(ctx context.Context, dst string) error
}

// restorer is a component that can put a backup in place of what it
// stores while no service runs on it: the file persistence.
type restorer interface {
	Restore(ctx context.Context, src string) error
}

// theFileStore returns the one component of p that is a T, without opening
// any: the one file persistence for --backup and --restore.
func theFileStore[T any](p *Process, option string) (T, error) {
	var found []T
	for _, c := range p.components {
		if t, ok := c.(T); ok {
			found = append(found, t)
		}
	}
	if len(found) != 1 {
		var none T
		return none, fmt.Errorf("%s: the config has %d file persistences; it works on exactly one (a database has its own backup tools, a memory store keeps nothing)", option, len(found))
	}
	return found[0], nil
}

// healthcheckTimeout bounds a --healthcheck, below the usual container
// health check timeouts.
const healthcheckTimeout = 3 * time.Second

// isLoopback reports whether host names this host's loopback interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkHealth GETs url and returns nil when it answers 2xx.
func checkHealth(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	client := http.DefaultClient
	if req.URL.Scheme == "https" && isLoopback(req.URL.Hostname()) {
		// The process checks itself, often with a certificate issued for
		// its public name or self-signed: whether it answers is the
		// question, and nothing secret is sent.
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	return nil
}
