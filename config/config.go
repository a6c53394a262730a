// Package config reads callflow's YAML configuration file into typed,
// validated values for the service and the simulator.
//
// Every problem is reported at once, each as "file:line:col: message";
// unknown keys are errors; durations are Go durations ("30s", "5m");
// relative paths resolve against the config file's directory. Secrets can
// be written inline or read from files (password_file, token_file): Load
// reads those files, Parse never touches the file system.
package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	// Time zones of callback windows must load on hosts without tzdata.
	_ "time/tzdata"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"go.uber.org/zap/zapcore"

	"github.com/callflow/callflow/queue"
)

// Config is the whole configuration.
type Config struct {
	Switch SwitchConfig
	Flows  FlowsConfig
	Store  StoreConfig
	Media  MediaConfig
	API    APIConfig
	Log    LogConfig
	// Queue holds the queues (in file order, each WithDefaults applied) and
	// the trunks callbacks dial through.
	Queue queue.Config
	// Faults are crash points for tests (see FaultsConfig); zero: none.
	Faults FaultsConfig
	// ShutdownTimeout bounds the drain after SIGTERM or SIGINT (default
	// 10s, more than 0): serve exits within it even if the drain is not
	// finished.
	ShutdownTimeout time.Duration
	// Node names this process among several sharing a PostgreSQL store
	// (node section); zero: a single node.
	Node NodeConfig

	secrets []secretRef // *_file entries Load reads
}

// SwitchType names the PBX driver.
type SwitchType string

const (
	Asterisk   SwitchType = "asterisk"
	FreeSWITCH SwitchType = "freeswitch"
	Sim        SwitchType = "sim"
)

// SwitchConfig selects and configures the switch. The section of the
// selected type must be present (none is needed for sim); the other
// sections may stay for a quick switch-over and are validated too.
type SwitchConfig struct {
	Type       SwitchType
	Asterisk   *AsteriskConfig   // nil when the file has no asterisk section
	FreeSWITCH *FreeSWITCHConfig // nil when the file has no freeswitch section
}

// AsteriskConfig reaches Asterisk's ARI.
type AsteriskConfig struct {
	// URL of the ARI root, "http://127.0.0.1:8088/ari" (http or https).
	URL string
	// Username and Password of the ari.conf user. Password is read from
	// PasswordFile by Load when the file names one.
	Username     string
	Password     string
	PasswordFile string
	// App is the Stasis application name the dialplan uses (default "callflow").
	App string
	// FastAGIListen, when set, is the host:port where callflow accepts
	// AGI(agi://HOST:PORT/FLOW,ARGS) from the dialplan (default: off). A
	// non-loopback address needs FastAGIAllowRemote: FastAGI carries no
	// credentials.
	FastAGIListen      string
	FastAGIAllowRemote bool
	// RecordingsDir, if set, is Asterisk's recording folder on this host:
	// recordings are copied from it instead of downloaded over ARI.
	RecordingsDir string
}

// FreeSWITCHConfig reaches FreeSWITCH's event socket.
type FreeSWITCHConfig struct {
	// Inbound is the host:port of mod_event_socket (default "127.0.0.1:8021").
	Inbound string
	// Password of the event socket; read from PasswordFile by Load when set.
	Password     string
	PasswordFile string
	// OutboundListen is where callflow listens for the dialplan's socket
	// application (default "127.0.0.1:8084").
	OutboundListen string
}

// FlowsConfig says where flows live and which flow a call runs.
type FlowsConfig struct {
	// Dir holds the flow files (default "flows", beside the config file).
	Dir string
	// Default is the flow for calls that name none (default "main").
	Default string
	// ByDialed maps a dialled number to a flow. A flow named by the
	// switch's hand-over arguments (Stasis args, socket args) wins.
	ByDialed map[string]string
}

// StoreConfig locates the database.
type StoreConfig struct {
	// Path of the SQLite file (default "callflow.db", beside the config
	// file). ":memory:" and "file:" URIs are passed on unchanged. Empty
	// when Postgres is set.
	Path string
	// Postgres is the DSN of a PostgreSQL database (postgres: or
	// postgres_file:); when set it replaces SQLite.
	Postgres string
}

// MediaConfig locates the recordings.
type MediaConfig struct {
	// Dir of the recording store (default "media", beside the config file).
	Dir string
	// Keep is how long recordings are kept (default 720h = 30 days; an
	// explicit 0 keeps them forever).
	Keep time.Duration
}

// APIConfig configures the HTTP API.
type APIConfig struct {
	// Listen is the host:port (default "127.0.0.1:8080"). A non-loopback
	// address needs AllowRemote and a token.
	Listen      string
	AllowRemote bool
	// Token is the bearer token clients send ("" = no authentication,
	// allowed on loopback only); read from TokenFile by Load when set.
	Token     string
	TokenFile string
}

// LogConfig configures logging.
type LogConfig struct {
	Level zapcore.Level // default info
	// Format is "console" (default) or "json".
	Format string
}

// Defaults of the service sections.
const (
	DefaultAsteriskApp = "callflow"
	DefaultESLInbound  = "127.0.0.1:8021"
	DefaultESLOutbound = "127.0.0.1:8084"
	DefaultFlowsDir    = "flows"
	DefaultFlow        = "main"
	DefaultStorePath   = "callflow.db"
	DefaultMediaDir    = "media"
	DefaultMediaKeep   = 720 * time.Hour
	DefaultAPIListen   = "127.0.0.1:8080"
	DefaultLogFormat   = "console"
	DefaultLogLevel    = zapcore.InfoLevel
	maxConfigSize      = 4 << 20
	maxSecretSize      = 4 << 10
)

// DefaultShutdownTimeout bounds serve's drain; it stays below the systemd
// unit's TimeoutStopSec (deploy/systemd/callflow.service).
const DefaultShutdownTimeout = 10 * time.Second

// Load reads, parses and validates the config file at path, then reads
// the secret files it names (relative to the file's directory).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("config: %s is larger than %d bytes", path, maxConfigSize)
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if err := c.readSecrets(path); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse parses and validates a config file's contents; name is the file's
// path, used in error positions and to resolve relative paths. Secrets
// named by *_file keys are not read (Load reads them).
func Parse(name string, data []byte) (cfg *Config, err error) {
	d := &decoder{file: name}
	defer func() {
		// The YAML library is third-party code: a panic in it must not take
		// the service (or the validate command) down.
		if r := recover(); r != nil {
			cfg, err = nil, ErrorList{{File: name, Line: 1, Col: 1, Msg: fmt.Sprintf("internal error reading YAML: %v", r)}}
		}
	}()
	c := &Config{
		Flows: FlowsConfig{Dir: DefaultFlowsDir, Default: DefaultFlow, ByDialed: map[string]string{}},
		Store: StoreConfig{Path: DefaultStorePath},
		Media: MediaConfig{Dir: DefaultMediaDir, Keep: DefaultMediaKeep},
		API:   APIConfig{Listen: DefaultAPIListen},
		Log:   LogConfig{Level: DefaultLogLevel, Format: DefaultLogFormat},
		Queue: queue.Config{Trunks: map[string]queue.Trunk{}},

		ShutdownTimeout: DefaultShutdownTimeout,
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		d.syntaxError(err)
		return nil, d.errs
	}
	d.collectAnchors(f)
	var body ast.Node
	if len(f.Docs) > 0 {
		body = d.resolve(f.Docs[0])
	}
	if len(f.Docs) > 1 {
		var second ast.Node = f.Docs[1]
		if f.Docs[1].Start != nil {
			second = &ast.StringNode{Token: f.Docs[1].Start} // the "---" line
		}
		d.errorf(second, "want one YAML document, found %d", len(f.Docs))
	}
	if body != nil {
		d.top(c, body)
	} else {
		d.errs = append(d.errs, &Error{File: name, Line: 1, Col: 1, Msg: "empty config: at least switch.type is required"})
	}
	for _, check := range d.later {
		check()
	}
	if len(d.errs) > 0 {
		d.errs.sort()
		return nil, d.errs
	}
	c.resolvePaths(filepath.Dir(name))
	return c, nil
}

// resolvePaths makes relative paths relative to the config file's directory.
func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.Flows.Dir)
	// SQLite's in-memory database and URI file names are not paths.
	if p := c.Store.Path; p != ":memory:" && !strings.HasPrefix(p, "file:") {
		abs(&c.Store.Path)
	}
	abs(&c.Media.Dir)
	abs(&c.API.TokenFile)
	if a := c.Switch.Asterisk; a != nil {
		abs(&a.PasswordFile)
	}
	if f := c.Switch.FreeSWITCH; f != nil {
		abs(&f.PasswordFile)
	}
	for i := range c.secrets {
		abs(&c.secrets[i].path)
	}
}

// secretRef is a secret to read from a file, with the position of the key
// that named it.
type secretRef struct {
	path      string
	dst       func(*Config) *string
	line, col int
	// check, when set, validates the value read.
	check func(string) error
}

// readSecrets reads every secret file; errors carry the key's position.
func (c *Config) readSecrets(file string) error {
	var errs ErrorList
	for _, s := range c.secrets {
		v, err := readSecret(s.path)
		if err == nil && s.check != nil {
			if cerr := s.check(v); cerr != nil {
				err = fmt.Errorf("secret file %s: %w", s.path, cerr)
			}
		}
		if err != nil {
			errs = append(errs, &Error{File: file, Line: s.line, Col: s.col, Msg: err.Error(), Err: err})
			continue
		}
		*s.dst(c) = v
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func readSecret(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, maxSecretSize+1))
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	if len(buf) > maxSecretSize {
		return "", fmt.Errorf("secret file %s: larger than %d bytes", path, maxSecretSize)
	}
	// A trailing newline (echo secret > file) is not part of the secret.
	s := strings.TrimSpace(string(buf))
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", path)
	}
	return s, nil
}
