package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/queue"
)

func TestParseReportsEveryError(t *testing.T) {
	src := `switch:
  type: asterix
  asterisk: {url: "ftp://x", username: callflow, password: secret, pasword: x}
flows:
  default: main.yaml
api: {listen: "0.0.0.0:8080"}
log: {level: verbose}
queues:
  support:
    agents: [PJSIP/agent1, agent2]
    strategy: random
    max_wait: 10 min
    callback:
      ani: "call me"
      trunk: nope
      window: {timezone: Mars/Olympus, hours: [{days: [mon, funday], from: "8:00", to: "25:00"}]}
      number_policy: {default_region: XX, allowed_types: [cheap]}
trunks:
  customer: {dial: "PJSIP/{number}@customer"}
`
	_, err := Parse("bad.yaml", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Parse error %T %v, want ErrorList", err, err)
	}
	want := []string{
		"bad.yaml:2:9: switch.type: unknown switch",
		"bad.yaml:3:19: switch.asterisk.url",
		`bad.yaml:3:68: unknown key "pasword"`,
		"bad.yaml:5:12: flows.default",
		"bad.yaml:6:15: api.listen",
		"bad.yaml:7:14: log.level",
		// Agent names are resolved once the agents section is known.
		`bad.yaml:10:28: queue support: agent "agent2" is not defined in agents`,
		"bad.yaml:11:15: queue support: unknown strategy",
		"bad.yaml:12:15: queue support: max_wait",
		"bad.yaml:14:12: queue support: callback.ani",
		// The trunk is checked once every trunk is known (trunks come later).
		`bad.yaml:15:14: queue support: callback.trunk "nope" is not defined`,
		"bad.yaml:16:26: queue support: callback.window.timezone",
		`bad.yaml:16:61: queue support: callback.window.hours.days: unknown day "funday"`,
		`bad.yaml:16:88: queue support: callback.window.hours.to: "25:00"`,
		"bad.yaml:17:39: queue support: callback.number_policy: number policy: unknown default region",
		"bad.yaml:17:59: queue support: callback.number_policy.allowed_types",
		"bad.yaml:19:20: trunk customer: dial",
	}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(list), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(list[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, list[i], w)
		}
	}
	if !strings.Contains(err.Error(), "\n") || strings.Count(err.Error(), "\n") != len(want)-1 {
		t.Errorf("Error() should give one line per problem:\n%s", err)
	}
	var one *Error
	if !errors.As(err, &one) || one.Line != 2 || one.Col != 9 {
		t.Errorf("errors.As(*Error) = %+v", one)
	}
}

func TestTrunkMayFollowQueue(t *testing.T) {
	src := sim + "queues:\n  q:\n    callback: {ani: \"+420222333444\", trunk: late}\ntrunks:\n  late: {dial: \"sofia/gateway/gw/{digits}\"}\n"
	c, err := Parse("c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := c.Queue.Trunks[c.Queue.Queues[0].Callback.Trunk].Endpoint("+420601123456")
	if err != nil || ep != "sofia/gateway/gw/420601123456" {
		t.Fatalf("endpoint %q, %v", ep, err)
	}
}

func writeFile(t *testing.T, path, data string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
}

func TestLoadReadsSecrets(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "secrets/ari"), "ari-pass\n", 0o600)
	writeFile(t, filepath.Join(dir, "secrets/esl"), "  esl-pass  \r\n", 0o600)
	abs := filepath.Join(dir, "token")
	writeFile(t, abs, "t0ken", 0o600)
	cfgPath := filepath.Join(dir, "callflow.yaml")
	writeFile(t, cfgPath, `switch:
  type: asterisk
  asterisk: {url: "http://127.0.0.1:8088/ari", username: u, password_file: secrets/ari}
  freeswitch: {password_file: secrets/esl}
api: {listen: "192.0.2.1:8080", allow_remote: true, token_file: `+abs+`}
`, 0o600)
	c, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if c.Switch.Asterisk.Password != "ari-pass" || c.Switch.FreeSWITCH.Password != "esl-pass" || c.API.Token != "t0ken" {
		t.Fatalf("secrets: asterisk %q, freeswitch %q, api %q", c.Switch.Asterisk.Password, c.Switch.FreeSWITCH.Password, c.API.Token)
	}
	if c.Switch.Asterisk.PasswordFile != filepath.Join(dir, "secrets/ari") {
		t.Errorf("password file not resolved against the config's directory: %q", c.Switch.Asterisk.PasswordFile)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		config  string
		want    string
		wantErr error
	}{
		{"missing config", nil, "", "", os.ErrNotExist},
		{"missing secret file", nil, "switch:\n  type: freeswitch\n  freeswitch: {password_file: nope}\n", "c.yaml:3:31: secret file:", os.ErrNotExist},
		{"empty secret file", map[string]string{"pw": "\n"}, "switch:\n  type: freeswitch\n  freeswitch: {password_file: pw}\n", "c.yaml:3:31: secret file", nil},
		{"huge secret file", map[string]string{"pw": strings.Repeat("x", maxSecretSize+1)}, "switch:\n  type: freeswitch\n  freeswitch: {password_file: pw}\n", "c.yaml:3:31: secret file", nil},
		{"two bad secret files", nil, "switch:\n  type: freeswitch\n  freeswitch: {password_file: a}\napi: {token_file: b}\n", "c.yaml:3:31: secret file", os.ErrNotExist},
		{"parse errors come first", nil, "switch: {type: nope}\n", "c.yaml:1:16: switch.type", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tt.files {
				writeFile(t, filepath.Join(dir, name), data, 0o600)
			}
			path := filepath.Join(dir, "c.yaml")
			if tt.config != "" {
				writeFile(t, path, tt.config, 0o600)
			}
			_, err := Load(path)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if tt.want != "" && !strings.HasPrefix(err.Error(), filepath.Join(dir, tt.want)) {
				t.Fatalf("error %q, want prefix %q", err, filepath.Join(dir, tt.want))
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v does not wrap %v", err, tt.wantErr)
			}
		})
	}
}

func TestLoadTwoBadSecretsReportsBoth(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	writeFile(t, path, "switch:\n  type: freeswitch\n  freeswitch: {password_file: a}\napi: {token_file: b}\n", 0o600)
	_, err := Load(path)
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 || list[1].Line != 4 {
		t.Fatalf("want 2 positioned errors, got %v", err)
	}
}

func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "examples", "config", "callflow.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(path, data)
	if err != nil {
		t.Fatalf("the shipped example config does not parse:\n%v", err)
	}
	if c.Switch.Type != Asterisk || len(c.Queue.Queues) != 2 || c.Queue.Queues[0].Name != "support" {
		t.Fatalf("unexpected example: %s", dump(c))
	}
	w := c.Queue.Queues[0].Callback.Window
	// Tuesday 2025-03-04 09:00 in Prague is open; Sunday is not.
	if !w.Open(time.Date(2025, 3, 4, 8, 0, 0, 0, time.UTC)) || w.Open(time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("example window hours wrong: %+v", w)
	}
	if c.Flows.Dir != filepath.Join("..", "examples", "flows") {
		t.Errorf("flows dir %q", c.Flows.Dir)
	}
	if err := c.Queue.Validate(); err != nil {
		t.Errorf("queue.Config.Validate: %v", err)
	}
	if c.Queue.Queues[1].Strategy != queue.LongestIdle {
		t.Errorf("sales strategy %q", c.Queue.Queues[1].Strategy)
	}
}
