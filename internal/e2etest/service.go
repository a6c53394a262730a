// Package e2etest runs `callflow serve` against the real Asterisk of
// internal/asterisktest for end-to-end tests and the demo.
//
// Start renders a configuration from deploy/demo/callflow.yaml.tmpl (ARI
// address and password of the running Asterisk, a temporary store and media
// folder, the flows of deploy/demo/flows, queue "support" with agents
// PJSIP/agent1..N, short timings), starts the callflow binary as a
// subprocess with --trace, and waits until /healthz says the switch is
// connected. The subprocess can be stopped (SIGTERM) or killed (SIGKILL),
// so crash tests can use the same kit. The trace file is read back as
// events (WaitEvent), the HTTP API through small typed helpers, and the
// agents' and customers' phones are sipp UAS (Phone) that remember when
// each INVITE arrived, across restarts in another mode.
package e2etest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	"github.com/callflow/callflow/internal/asterisktest"
)

// Defaults of Options.
const (
	DefaultANI             = "+420222333444"
	DefaultAgentTimeout    = 10 * time.Second
	DefaultAgentRetry      = time.Second
	DefaultWrapUp          = time.Second
	DefaultRetryInterval   = 5 * time.Second
	DefaultCustomerTimeout = 15 * time.Second
	// StartTimeout bounds Start: process start, ARI connection, /healthz.
	StartTimeout = 30 * time.Second
	// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	stopTimeout = 15 * time.Second
)

// Dialled numbers of the five experiences in DefaultFlows. The dialplan
// sends every number to Stasis(callflow,${EXTEN}) and the service maps it
// to a flow through flows.by_dialed.
const (
	ExtCallbackOnly = "201"
	ExtIVROffer     = "202"
	ExtNumberPolicy = "203"
	ExtVoicemail    = "204"
	ExtDecline      = "205"
)

// DefaultFlows maps the dialled numbers to the flows of deploy/demo/flows.
func DefaultFlows() map[string]string {
	return map[string]string{
		ExtCallbackOnly: "callback-only",
		ExtIVROffer:     "ivr-offer",
		ExtNumberPolicy: "number-policy",
		ExtVoicemail:    "voicemail",
		ExtDecline:      "decline",
	}
}

// Options configure Start. The zero value runs the five flows with one
// agent and the default timings.
type Options struct {
	// Binary is the callflow executable; default: built once per process
	// from this repository (Build) with BuildTags.
	Binary string
	// BuildTags of the default binary: "faultinject" lets the config arm
	// a crash point (faults:); none builds what ships.
	BuildTags []string
	// Dir receives the config, store, media, trace and log; default a new
	// temporary folder that Stop removes unless KeepDir is set.
	Dir     string
	KeepDir bool
	// Agents is the number of agents PJSIP/agent1..N of queue "support"
	// (1..asterisktest.AgentCount, default 1).
	Agents int
	// ByDialed maps dialled numbers to flows; default DefaultFlows().
	ByDialed map[string]string
	// DefaultFlow runs for numbers ByDialed does not name; default "ivr-offer".
	DefaultFlow string
	// FlowsDir holds the flows; default deploy/demo/flows of this repository.
	FlowsDir string
	// ANI is the callback caller ID; default DefaultANI.
	ANI string
	// Queue timings; zero means the Default* constant.
	AgentTimeout, AgentRetry, WrapUp, RetryInterval, CustomerTimeout time.Duration
	// LogLevel of the service (default "info"); its log goes to Dir/callflow.log.
	LogLevel string
	// Logf receives progress lines; default discard.
	Logf func(string, ...any)
	// ControlVia, if set, receives the address of the switch's control
	// connection (Asterisk's ARI host:port, FreeSWITCH's inbound event
	// socket) and returns the address the service dials instead: a proxy
	// in front of it (internal/tcpproxy).
	ControlVia func(addr string) (string, error)
	// Postgres, when set, is the store's PostgreSQL DSN instead of the
	// SQLite file; NodeID and LeaseTTL then make the service one of
	// several nodes (docs/nodes.md; LeaseTTL 0: the default).
	Postgres string
	NodeID   string
	LeaseTTL time.Duration
	// AgentNames names the agents agent1..N in an agents section and lists
	// the names in the queue, as nodes of different switches on one
	// database do (docs/nodes.md).
	AgentNames bool
}

// Service is a running `callflow serve` subprocess.
type Service struct {
	Dir        string // working folder
	ConfigPath string
	TracePath  string // --trace file, one line per event
	LogPath    string // the service's stderr (zap log)
	StorePath  string // SQLite database
	MediaDir   string // recording store
	APIURL     string // http://127.0.0.1:PORT
	Token      string // API bearer token
	ANI        string // the callback ANI configured
	Agents     []string

	opt     Options
	bin     string
	started time.Time // for the trace's dates
	logf    func(string, ...any)
	mu      sync.Mutex
	proc    *proc // the current run
	once    sync.Once
	stopErr error
}

// Start renders the configuration for ast, starts callflow serve and waits
// until its API reports the switch connected. The caller must call Stop.
func Start(ctx context.Context, ast *asterisktest.Asterisk, opt Options) (*Service, error) {
	return StartOn(ctx, AsteriskPBX(ast), opt)
}

// StartOn is Start on either switch: the configuration is rendered with
// switch type asterisk (ARI of pbx.Ast) or freeswitch (event socket of
// pbx.FS, callflow listening at its socket hand-off address), the agents
// and the customer trunk as pbx dials them.
func StartOn(ctx context.Context, pbx *PBX, opt Options) (*Service, error) {
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	if opt.Agents == 0 {
		opt.Agents = 1
	}
	if opt.Agents < 1 || opt.Agents > AgentCount {
		return nil, fmt.Errorf("e2etest: %d agents: want 1..%d", opt.Agents, AgentCount)
	}
	bin := opt.Binary
	if bin == "" {
		var err error
		if bin, err = Build(ctx, opt.BuildTags...); err != nil {
			return nil, err
		}
	} else if abs, err := filepath.Abs(bin); err == nil {
		bin = abs // the process runs in Dir
	}
	dir := opt.Dir
	ownsDir := false
	if dir == "" {
		d, err := os.MkdirTemp("", "callflow-e2e-")
		if err != nil {
			return nil, fmt.Errorf("e2etest: %w", err)
		}
		dir, ownsDir = d, !opt.KeepDir
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("e2etest: %w", err)
	}
	s := &Service{
		Dir: dir, ConfigPath: filepath.Join(dir, "callflow.yaml"), TracePath: filepath.Join(dir, "trace.txt"),
		LogPath: filepath.Join(dir, "callflow.log"), StorePath: filepath.Join(dir, "callflow.db"),
		MediaDir: filepath.Join(dir, "media"), opt: opt, bin: bin, logf: opt.Logf, started: time.Now(),
	}
	if !ownsDir {
		s.opt.KeepDir = true
	}
	fail := func(err error) (*Service, error) {
		if ownsDir {
			os.RemoveAll(dir)
		}
		return nil, err
	}
	vals, err := s.values(pbx)
	if err != nil {
		return fail(err)
	}
	if err := RenderConfig(s.ConfigPath, vals); err != nil {
		return fail(err)
	}
	if err := s.launch(ctx); err != nil {
		return fail(err)
	}
	return s, nil
}

// launch starts the process and waits until it is healthy; on failure the
// process is ended.
func (s *Service) launch(ctx context.Context) error {
	logFile, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("e2etest: %w", err)
	}
	// Not CommandContext: the process must outlive ctx (the start-up
	// deadline) and end only through Stop or Kill.
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(s.bin, "serve", "--config", s.ConfigPath, "--trace", s.TracePath)
	p.cmd.Dir = s.Dir
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("e2etest: start %s: %w", s.bin, err)
	}
	logFile.Close() // the child holds its own copy
	// Ends when the process exits: on Stop, Kill or by itself.
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	if err := s.waitHealthy(sctx, p); err != nil {
		p.signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%w\n%s", err, s.LogTail(20))
	}
	s.logf("e2etest: callflow pid %d serving (api %s, dir %s)", p.cmd.Process.Pid, s.APIURL, s.Dir)
	return nil
}

// proc is one run of the callflow process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // exit status, valid after done
}

func (p *proc) signal(sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("e2etest: signal callflow: %w", err)
	}
	return nil
}

// values fills the template values for pbx and s.opt.
func (s *Service) values(pbx *PBX) (ConfigValues, error) {
	opt := s.opt
	port, err := freeTCPPort()
	if err != nil {
		return ConfigValues{}, err
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return ConfigValues{}, fmt.Errorf("e2etest: token: %w", err)
	}
	s.Token = hex.EncodeToString(tok)
	s.APIURL = "http://127.0.0.1:" + strconv.Itoa(port)
	s.ANI = opt.ANI
	if s.ANI == "" {
		s.ANI = DefaultANI
	}
	var names []string
	for i := 1; i <= opt.Agents; i++ {
		s.Agents = append(s.Agents, pbx.AgentEndpoint(i))
		if opt.AgentNames {
			names = append(names, "agent"+strconv.Itoa(i))
		}
	}
	flowsDir := opt.FlowsDir
	if flowsDir == "" {
		if flowsDir, err = DemoDir("flows"); err != nil {
			return ConfigValues{}, err
		}
	}
	v := ConfigValues{
		Switch: pbx.Kind, CustomerDial: pbx.CustomerDial(),
		FlowsDir: flowsDir, DefaultFlow: opt.DefaultFlow, ByDialed: opt.ByDialed,
		StorePath: s.StorePath, MediaDir: s.MediaDir, APIListen: "127.0.0.1:" + strconv.Itoa(port), Token: s.Token,
		LogLevel: opt.LogLevel, Agents: s.Agents, AgentNames: names, ANI: s.ANI,
		Postgres: opt.Postgres, NodeID: opt.NodeID, LeaseTTL: opt.LeaseTTL,
		AgentTimeout: opt.AgentTimeout, AgentRetry: opt.AgentRetry, WrapUp: opt.WrapUp,
		RetryInterval: opt.RetryInterval, CustomerTimeout: opt.CustomerTimeout,
	}
	if pbx.Kind == FreeSWITCH {
		v.ESLInbound, v.ESLPassword, v.OutboundListen = pbx.FS.ESLAddress, pbx.FS.Password, pbx.FS.SocketAddress
	} else {
		v.ARIURL, v.ARIUser, v.ARIPass, v.App = pbx.Ast.ARIURL, pbx.Ast.User, pbx.Ast.Pass, pbx.Ast.App
		if pbx.Ast.AGIPort != 0 {
			v.FastAGIListen = "127.0.0.1:" + strconv.Itoa(pbx.Ast.AGIPort)
		}
	}
	if opt.ControlVia != nil {
		if err := v.controlVia(opt.ControlVia); err != nil {
			return ConfigValues{}, err
		}
	}
	return v.withDefaults(), nil
}

// controlVia points the control connection at via(its address).
func (v *ConfigValues) controlVia(via func(string) (string, error)) error {
	if v.Switch == FreeSWITCH {
		addr, err := via(v.ESLInbound)
		if err != nil {
			return fmt.Errorf("e2etest: control via: %w", err)
		}
		v.ESLInbound = addr
		return nil
	}
	u, err := url.Parse(v.ARIURL)
	if err != nil {
		return fmt.Errorf("e2etest: ARI URL: %w", err)
	}
	if u.Host, err = via(u.Host); err != nil {
		return fmt.Errorf("e2etest: control via: %w", err)
	}
	v.ARIURL = u.String()
	return nil
}

// waitHealthy polls /healthz until it answers 200 (switch connected).
func (s *Service) waitHealthy(ctx context.Context, p *proc) error {
	var last error
	for {
		code, body, err := s.get(ctx, "/healthz", false)
		if err == nil && code == 200 {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("status %d: %s", code, bytes.TrimSpace(body))
		}
		last = err
		select {
		case <-p.done:
			return fmt.Errorf("e2etest: callflow exited during start-up: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("e2etest: callflow not healthy: %w (last: %v)", context.Cause(ctx), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// PID is the process id of the current run.
func (s *Service) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc.cmd.Process.Pid
}

// Done is closed when the current callflow process has exited.
func (s *Service) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc.done
}

// Stop sends SIGTERM to a running process, waits for it (SIGKILL after
// 15 s) and removes a temporary Dir. It reports a process that did not exit
// cleanly. Later calls return the first result.
func (s *Service) Stop() error {
	s.once.Do(func() {
		s.mu.Lock()
		p := s.proc
		s.mu.Unlock()
		select {
		case <-p.done:
		default:
			if err := p.signal(syscall.SIGTERM); err != nil {
				s.stopErr = err
			}
			select {
			case <-p.done:
				if p.err != nil {
					s.stopErr = fmt.Errorf("e2etest: callflow exit after SIGTERM: %w\n%s", p.err, s.LogTail(10))
				}
			case <-time.After(stopTimeout):
				_ = p.signal(syscall.SIGKILL)
				<-p.done
				s.stopErr = fmt.Errorf("e2etest: callflow ignored SIGTERM for %v; killed", stopTimeout)
			}
		}
		if !s.opt.KeepDir {
			if err := os.RemoveAll(s.Dir); err != nil && s.stopErr == nil {
				s.stopErr = fmt.Errorf("e2etest: %w", err)
			}
		}
	})
	return s.stopErr
}

// Kill ends the running process with SIGKILL (a crash) and waits for it.
// The folder, store and trace stay: Restart runs the service again on
// them, and Stop still cleans up.
func (s *Service) Kill() error {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.done
	return nil
}

// Restart starts the service again with the same configuration, store and
// trace file after Kill (or after the process ended by itself).
func (s *Service) Restart(ctx context.Context) error {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	select {
	case <-p.done:
	default:
		return errors.New("e2etest: restart: callflow is still running")
	}
	return s.launch(ctx)
}

// LogTail returns the last n lines of the service's log.
func (s *Service) LogTail(n int) string {
	b, _ := os.ReadFile(s.LogPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Log returns the service's whole log.
func (s *Service) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// ConfigValues are the placeholders of deploy/demo/callflow.yaml.tmpl.
type ConfigValues struct {
	ARIURL, ARIUser, ARIPass, App string
	FlowsDir, DefaultFlow         string
	ByDialed                      map[string]string
	StorePath, MediaDir           string
	APIListen, Token              string
	LogLevel                      string
	Agents                        []string
	// AgentNames, when set, names Agents (same length) in an agents
	// section; the queue lists the names.
	AgentNames               []string
	ANI                      string
	AgentTimeout, AgentRetry time.Duration
	WrapUp, RetryInterval    time.Duration
	CustomerTimeout          time.Duration
	// FastAGIListen is switch.asterisk.fastagi_listen ("": off).
	FastAGIListen string
	// Postgres replaces StorePath with a PostgreSQL DSN; NodeID and
	// LeaseTTL write the node section (0: the default lease time).
	Postgres string
	NodeID   string
	LeaseTTL time.Duration

	// Switch is the switch type, "asterisk" (default) or "freeswitch".
	Switch string
	// FreeSWITCH's inbound event socket, its password and where callflow
	// listens for the dialplan's socket hand-off.
	ESLInbound, ESLPassword, OutboundListen string
	// CustomerDial is the customer trunk's dial template (default
	// "PJSIP/{e164}@customer").
	CustomerDial string
}

func (v ConfigValues) withDefaults() ConfigValues {
	if v.Switch == "" {
		v.Switch = Asterisk
	}
	if v.CustomerDial == "" {
		v.CustomerDial = "PJSIP/{e164}@customer"
	}
	if v.App == "" {
		v.App = "callflow"
	}
	if v.ByDialed == nil {
		v.ByDialed = DefaultFlows()
	}
	if v.DefaultFlow == "" {
		v.DefaultFlow = "ivr-offer"
	}
	if v.LogLevel == "" {
		v.LogLevel = "info"
	}
	if v.ANI == "" {
		v.ANI = DefaultANI
	}
	def := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	def(&v.AgentTimeout, DefaultAgentTimeout)
	def(&v.AgentRetry, DefaultAgentRetry)
	def(&v.WrapUp, DefaultWrapUp)
	def(&v.RetryInterval, DefaultRetryInterval)
	def(&v.CustomerTimeout, DefaultCustomerTimeout)
	return v
}

// RenderConfig renders deploy/demo/callflow.yaml.tmpl with v (defaults
// applied) into path.
func RenderConfig(path string, v ConfigValues) error {
	tmplPath, err := DemoDir("callflow.yaml.tmpl")
	if err != nil {
		return err
	}
	src, err := os.ReadFile(tmplPath)
	if err != nil {
		return fmt.Errorf("e2etest: config template: %w", err)
	}
	t, err := template.New("callflow.yaml").Option("missingkey=error").Funcs(template.FuncMap{
		"quote": strconv.Quote,
		"join":  strings.Join,
	}).Parse(string(src))
	if err != nil {
		return fmt.Errorf("e2etest: config template %s: %w", tmplPath, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v.withDefaults()); err != nil {
		return fmt.Errorf("e2etest: render %s: %w", tmplPath, err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("e2etest: write config: %w", err)
	}
	return nil
}

// RepoRoot is the repository root, found from this source file.
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("e2etest: cannot locate source file to find the repository")
	}
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("e2etest: repository root: %w", err)
	}
	return root, nil
}

// DemoDir joins elem to the repository's deploy/demo.
func DemoDir(elem ...string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(append([]string{root, "deploy", "demo"}, elem...)...), nil
}

var builds struct {
	mu sync.Mutex
	by map[string]*builtBinary // by build tags
}

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

// Build compiles ./cmd/callflow once per process and set of build tags
// (e.g. "faultinject" for the crash tests' faults: section; none is the
// production build) into a temporary folder and returns the binary's path.
// The folder stays until the machine's temp cleaning: the binary may
// outlive any one test.
func Build(ctx context.Context, tags ...string) (string, error) {
	key := strings.Join(tags, ",")
	builds.mu.Lock()
	if builds.by == nil {
		builds.by = map[string]*builtBinary{}
	}
	b := builds.by[key]
	if b == nil {
		b = &builtBinary{}
		builds.by[key] = b
	}
	builds.mu.Unlock()
	b.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			b.err = err
			return
		}
		dir, err := os.MkdirTemp("", "callflow-e2e-bin-")
		if err != nil {
			b.err = fmt.Errorf("e2etest: %w", err)
			return
		}
		b.path = filepath.Join(dir, "callflow")
		args := []string{"build", "-o", b.path}
		if key != "" {
			args = append(args, "-tags", key)
		}
		cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/callflow")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("e2etest: go %s: %w\n%s", strings.Join(cmd.Args[1:], " "), err, out)
		}
	})
	return b.path, b.err
}

// freeTCPPort returns a loopback TCP port that is free right now.
func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("e2etest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
