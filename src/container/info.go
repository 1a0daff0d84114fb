package container

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"sort"
	"time"
)

// ContextInfoDescriptor names the component that describes the running
// process, as Pip.Services does, when the config lists none.
var ContextInfoDescriptor = Descriptor{"pip-services", "context-info", "default", "default", "1.0"}

// ContextInfoLocator finds the context info among the references, whatever
// kind and name the config gave it.
var ContextInfoLocator = Descriptor{"pip-services", "context-info", "*", "*", "1.0"}

// contextInfoKinds is what the built-in factory makes: a context info of
// the default kind, under any name.
var contextInfoKinds = Descriptor{"pip-services", "context-info", "default", "*", "1.0"}

// ContextInfo describes the running process: its name and description from
// the config, a context id (the host's name, as Pip.Services has it) and
// the time it started. The status service
// reports it. It is read-only once configured.
type ContextInfo struct {
	name        string
	description string
	contextID   string
	startTime   time.Time
	properties  map[string]string
}

var _ Configurable = (*ContextInfo)(nil)

// NewContextInfo returns a context info named "unknown", as Pip.Services
// names a process without one, with the host's name as its context id and
// the current time as its start time.
func NewContextInfo() *ContextInfo {
	return &ContextInfo{
		name:       "unknown",
		contextID:  contextID(os.Hostname()),
		startTime:  time.Now().UTC(),
		properties: map[string]string{},
	}
}

// Configure reads name, description and properties; info.name and
// info.description are accepted too, as in Pip.Services.
func (c *ContextInfo) Configure(cfg Config) error {
	c.name = cfg.String("name", cfg.String("info.name", c.name))
	c.description = cfg.String("description", cfg.String("info.description", c.description))
	props := map[string]string{}
	flatten(props, "", cfg.Section("properties"))
	c.properties = props
	return nil
}

// flatten writes nested sections as dotted keys, the way Pip.Services
// config parameters hold them.
func flatten(dst map[string]string, prefix string, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := m[k].(type) {
		case map[string]any:
			flatten(dst, prefix+k+".", v)
		case nil:
			dst[prefix+k] = ""
		default:
			dst[prefix+k] = fmt.Sprint(v)
		}
	}
}

// Name returns the process name.
func (c *ContextInfo) Name() string { return c.name }

// Description returns the process description.
func (c *ContextInfo) Description() string { return c.description }

// ContextID returns the id of the process's context: the host's name, as
// Pip.Services services report it in /status and their logs.
func (c *ContextInfo) ContextID() string { return c.contextID }

// contextID returns the host's name, or 32 random hex chars when the host
// has none to give.
func contextID(host string, err error) string {
	if err == nil && host != "" {
		return host
	}
	var b [16]byte
	// crypto/rand.Read never returns an error since Go 1.24.
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// StartTime returns when the process started, in UTC.
func (c *ContextInfo) StartTime() time.Time { return c.startTime }

// Properties returns a copy of the configured properties.
func (c *ContextInfo) Properties() map[string]string { return maps.Clone(c.properties) }
