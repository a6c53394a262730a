package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/phone"
	"github.com/callflow/callflow/queue"
)

const goodYAML = `switch:
  type: asterisk
  asterisk: {url: "http://127.0.0.1:8088/ari", username: callflow, password: secret, app: callflow, recordings_dir: /var/spool/asterisk/recording}
  freeswitch: {inbound: "127.0.0.1:8021", password: "ClueCon", outbound_listen: "127.0.0.1:8084"}
flows:
  dir: examples/flows
  default: main
  by_dialed: {"200": main, "201": ivr-offer}
store: {path: callflow.db}
media: {dir: media, keep: 720h}
api: {listen: "127.0.0.1:8080", token_file: token}
log: {level: info, format: console}
trunks:
  customer: {dial: "PJSIP/{e164}@customer"}
queues:
  support:
    agents: [PJSIP/agent1, PJSIP/agent2]
    strategy: ordered
    in_queue_flow: support-wait
    max_wait: 10m
    max_entries: 50
    music_class: default
    agent_timeout: 15s
    agent_retry: 10s
    wrap_up: 5s
    handle_time: 3m
    callback:
      ani: "+420222333444"
      trunk: customer
      mode: agent_first
      max_attempts: 3
      retry_interval: 5m
      retry_on: [busy, no_answer, failed]
      customer_timeout: 30s
      dedupe: true
      on_call_in: keep
      whisper: ["sound:callback-whisper"]
      window: {timezone: Europe/Prague, hours: [{days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00"}]}
      number_policy: {default_region: CZ, allowed_regions: [CZ, SK], allowed_types: [mobile, fixed_line], denied_types: [premium_rate, shared_cost, unknown], denied_prefixes: ["+882"]}
  sales:
    agents: PJSIP/agent3
`

// sansLocations replaces window locations by nil after checking their names,
// so configs compare with reflect.DeepEqual.
func sansLocations(t *testing.T, c *Config, want map[string]string) {
	t.Helper()
	for i := range c.Queue.Queues {
		q := &c.Queue.Queues[i]
		w := q.Callback.Window
		if w == nil {
			continue
		}
		if got := w.Location.String(); got != want[q.Name] {
			t.Errorf("queue %s: window location %q, want %q", q.Name, got, want[q.Name])
		}
		w.Location = nil
	}
}

func TestParseGoodConfig(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "callflow.yaml")
	got, err := Parse(name, []byte(goodYAML))
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Queue.Validate(); err != nil {
		t.Fatalf("parsed config fails queue.Config.Validate: %v", err)
	}
	sansLocations(t, got, map[string]string{"support": "Europe/Prague"})
	got.secrets = nil
	weekdays := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	want := &Config{
		Switch: SwitchConfig{
			Type:       Asterisk,
			Asterisk:   &AsteriskConfig{URL: "http://127.0.0.1:8088/ari", Username: "callflow", Password: "secret", App: "callflow", RecordingsDir: "/var/spool/asterisk/recording"},
			FreeSWITCH: &FreeSWITCHConfig{Inbound: "127.0.0.1:8021", Password: "ClueCon", OutboundListen: "127.0.0.1:8084"},
		},
		Flows: FlowsConfig{Dir: filepath.Join(dir, "examples/flows"), Default: "main", ByDialed: map[string]string{"200": "main", "201": "ivr-offer"}},
		Store: StoreConfig{Path: filepath.Join(dir, "callflow.db")},
		Media: MediaConfig{Dir: filepath.Join(dir, "media"), Keep: 720 * time.Hour},
		API:   APIConfig{Listen: "127.0.0.1:8080", TokenFile: filepath.Join(dir, "token")},
		Log:   LogConfig{Level: zapcore.InfoLevel, Format: "console"},

		ShutdownTimeout: 10 * time.Second,
		Queue: queue.Config{
			Trunks: map[string]queue.Trunk{"customer": {Dial: "PJSIP/{e164}@customer"}},
			Queues: []queue.QueueConfig{
				{
					Name: "support", Agents: []string{"PJSIP/agent1", "PJSIP/agent2"}, Strategy: queue.Ordered,
					InQueueFlow: "support-wait", MaxWait: 10 * time.Minute, MaxEntries: 50, MusicClass: "default",
					AgentTimeout: 15 * time.Second, AgentRetry: 10 * time.Second, WrapUp: 5 * time.Second, HandleTime: 3 * time.Minute,
					Callback: queue.CallbackPolicy{
						ANI: "+420222333444", Trunk: "customer", Mode: queue.AgentFirst, MaxAttempts: 3,
						RetryInterval: 5 * time.Minute, RetryOn: []string{"busy", "no_answer", "failed"},
						CustomerTimeout: 30 * time.Second, Dedupe: true, OnCallIn: queue.CallInKeep,
						Whisper: []adapter.Prompt{"sound:callback-whisper"},
						Window:  &queue.Window{Hours: []queue.Hours{{Days: weekdays, From: 8 * 60, To: 18 * 60}}},
						NumberPolicy: phone.Policy{
							DefaultRegion: "CZ", AllowedRegions: []string{"CZ", "SK"},
							AllowedTypes:   []phone.Type{phone.Mobile, phone.FixedLine},
							DeniedTypes:    []phone.Type{phone.PremiumRate, phone.SharedCost, phone.Unknown},
							DeniedPrefixes: []string{"+882"},
						},
					},
				},
				queue.QueueConfig{Name: "sales", Agents: []string{"PJSIP/agent3"}}.WithDefaults(),
			},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse mismatch:\n got %s\nwant %s", dump(got), dump(want))
	}
}

func dump(c *Config) string {
	s := fmt.Sprintf("%+v", *c)
	if c.Switch.Asterisk != nil {
		s += fmt.Sprintf(" asterisk=%+v", *c.Switch.Asterisk)
	}
	if c.Switch.FreeSWITCH != nil {
		s += fmt.Sprintf(" freeswitch=%+v", *c.Switch.FreeSWITCH)
	}
	for _, q := range c.Queue.Queues {
		if q.Callback.Window != nil {
			s += fmt.Sprintf(" window(%s)=%+v", q.Name, *q.Callback.Window)
		}
	}
	return s
}

func TestParseDefaults(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c *Config)
	}{
		{"sim needs nothing else", "switch: {type: sim}\n", func(t *testing.T, c *Config) {
			want := &Config{
				Switch: SwitchConfig{Type: Sim},
				Flows:  FlowsConfig{Dir: "/etc/callflow/flows", Default: "main", ByDialed: map[string]string{}},
				Store:  StoreConfig{Path: "/etc/callflow/callflow.db"},
				Media:  MediaConfig{Dir: "/etc/callflow/media", Keep: 720 * time.Hour},
				API:    APIConfig{Listen: "127.0.0.1:8080"},
				Log:    LogConfig{Level: zapcore.InfoLevel, Format: "console"},
				Queue:  queue.Config{Trunks: map[string]queue.Trunk{}},

				ShutdownTimeout: 10 * time.Second,
			}
			if !reflect.DeepEqual(c, want) {
				t.Fatalf("defaults:\n got %s\nwant %s", dump(c), dump(want))
			}
		}},
		{"asterisk app and freeswitch addresses", "switch:\n  type: freeswitch\n  asterisk: {url: \"https://pbx:8089/ari\", username: u, password: p}\n  freeswitch: {password: p}\n", func(t *testing.T, c *Config) {
			if c.Switch.Asterisk.App != "callflow" {
				t.Errorf("asterisk app %q", c.Switch.Asterisk.App)
			}
			if f := c.Switch.FreeSWITCH; f.Inbound != "127.0.0.1:8021" || f.OutboundListen != "127.0.0.1:8084" {
				t.Errorf("freeswitch %+v", *f)
			}
		}},
		{"shutdown_timeout", "switch: {type: sim}\nshutdown_timeout: 25s\n", func(t *testing.T, c *Config) {
			if c.ShutdownTimeout != 25*time.Second {
				t.Errorf("shutdown_timeout %v, want 25s", c.ShutdownTimeout)
			}
		}},
		{"explicit keep 0 keeps forever", "switch: {type: sim}\nmedia: {keep: 0}\n", func(t *testing.T, c *Config) {
			if c.Media.Keep != 0 {
				t.Errorf("keep %v, want 0", c.Media.Keep)
			}
		}},
		{"absolute paths stay", "switch: {type: sim}\nstore: {path: /var/lib/callflow/db}\n", func(t *testing.T, c *Config) {
			if c.Store.Path != "/var/lib/callflow/db" {
				t.Errorf("store path %q", c.Store.Path)
			}
		}},
		{"sqlite special names stay", "switch: {type: sim}\nstore: {path: \":memory:\"}\n", func(t *testing.T, c *Config) {
			if c.Store.Path != ":memory:" {
				t.Errorf("store path %q, want :memory:", c.Store.Path)
			}
		}},
		{"queue defaults", "switch: {type: sim}\ntrunks: {t: {dial: \"sim/{digits}\"}}\nqueues:\n  q:\n    agents: [sim/a]\n    callback: {ani: \"420222333444\", trunk: t}\n", func(t *testing.T, c *Config) {
			q := c.Queue.Queues[0]
			if q.Strategy != queue.Ordered || q.AgentTimeout != 15*time.Second || q.HandleTime != 3*time.Minute || q.MusicClass != "default" {
				t.Errorf("queue defaults not filled: %+v", q)
			}
			cb := q.Callback
			if cb.Mode != queue.AgentFirst || cb.MaxAttempts != 3 || cb.RetryInterval != 5*time.Minute || len(cb.RetryOn) != 3 || cb.OnCallIn != queue.CallInKeep || cb.Window != nil {
				t.Errorf("callback defaults not filled: %+v", cb)
			}
			if cb.NumberPolicy.DeniedTypes != nil {
				t.Errorf("absent denied_types must stay nil (= phone.DefaultDenied), got %v", cb.NumberPolicy.DeniedTypes)
			}
		}},
		{"explicit empty lists stay empty", "switch: {type: sim}\ntrunks: {t: {dial: \"sim/{digits}\"}}\nqueues:\n  q:\n    callback: {ani: \"+420222333444\", trunk: t, retry_on: [], number_policy: {denied_types: []}}\n", func(t *testing.T, c *Config) {
			cb := c.Queue.Queues[0].Callback
			if cb.RetryOn == nil || len(cb.RetryOn) != 0 {
				t.Errorf("retry_on: [] gave %#v, want empty non-nil", cb.RetryOn)
			}
			if cb.NumberPolicy.DeniedTypes == nil || len(cb.NumberPolicy.DeniedTypes) != 0 {
				t.Errorf("denied_types: [] gave %#v, want empty non-nil (deny none)", cb.NumberPolicy.DeniedTypes)
			}
		}},
		{"day ranges, lower-case regions, 24:00", "switch: {type: sim}\ntrunks: {t: {dial: \"sim/{e164}\"}}\nqueues:\n  q:\n    callback:\n      ani: \"+420222333444\"\n      trunk: t\n      window: {timezone: UTC, hours: [{days: [fri-mon, wed], from: \"8:30\", to: \"24:00\"}]}\n      number_policy: {default_region: cz, allowed_regions: [sk]}\n", func(t *testing.T, c *Config) {
			cb := c.Queue.Queues[0].Callback
			h := cb.Window.Hours[0]
			wantDays := []time.Weekday{time.Friday, time.Saturday, time.Sunday, time.Monday, time.Wednesday}
			if !reflect.DeepEqual(h.Days, wantDays) || h.From != 8*60+30 || h.To != 24*60 {
				t.Errorf("hours %+v", h)
			}
			if cb.NumberPolicy.DefaultRegion != "CZ" || cb.NumberPolicy.AllowedRegions[0] != "SK" {
				t.Errorf("regions not upper-cased: %+v", cb.NumberPolicy)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("/etc/callflow/callflow.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseAnchors(t *testing.T) {
	src := `switch: {type: sim}
trunks: {t: {dial: "sim/{e164}"}}
queues:
  a:
    agents: &agents [sim/a1, sim/a2]
    callback: &cb
      ani: "+420222333444"
      trunk: t
      max_attempts: 5
  b:
    agents: *agents
    callback:
      <<: *cb
      max_attempts: 2
`
	c, err := Parse("c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Queue.Queues[0], c.Queue.Queues[1]
	if !reflect.DeepEqual(a.Agents, b.Agents) || len(b.Agents) != 2 {
		t.Errorf("alias agents: %v vs %v", a.Agents, b.Agents)
	}
	if b.Callback.ANI != "+420222333444" || b.Callback.MaxAttempts != 2 || a.Callback.MaxAttempts != 5 {
		t.Errorf("merge: a=%+v b=%+v", a.Callback, b.Callback)
	}
}

func TestIsLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{{"127.0.0.1:8080", true}, {"[::1]:80", true}, {"localhost:1", true}, {"0.0.0.0:80", false}, {"10.0.0.1:80", false}, {"bad", false}} {
		if IsLoopback(tc.addr) != tc.want {
			t.Errorf("IsLoopback(%q) != %v", tc.addr, tc.want)
		}
	}
}
