package sim

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadScenario(t *testing.T) {
	sc, err := LoadScenario(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	speak, hang := 4*time.Second, 60*time.Second
	want := &Scenario{
		Name:           filepath.Join("testdata", "example.yaml"),
		PromptDuration: time.Second,
		Prompts:        map[string]time.Duration{"sound:queue-periodic-announce": 3 * time.Second},
		Callers: []Caller{
			{ID: "caller-1", From: "+420601111222", Name: "Jan Novak", To: "200", Args: []string{"support"},
				DTMF: []DTMF{{5 * time.Second, "1"}, {9500 * time.Millisecond, "420601111222#"}}, Speak: &speak, HangupAt: &hang},
			{ID: "caller-2", At: 2 * time.Second, From: "+420601111333", To: "200"},
		},
		Agents: []Party{{Endpoint: "PJSIP/agent1", AnswerAfter: 2 * time.Second, Talk: 20 * time.Second, Behaviour: Busy,
			Schedule: []Step{{30 * time.Second, Answer}}}},
		Customers: []Party{{Number: "+420601111222", AnswerAfter: DefaultAnswerAfter, Talk: 15 * time.Second, Behaviour: Answer,
			Attempts: []Behaviour{NoAnswer, Answer}}},
	}
	if !reflect.DeepEqual(sc, want) {
		t.Errorf("got  %+v\nwant %+v", sc, want)
	}
	if _, err := LoadScenario(filepath.Join("testdata", "missing.yaml")); err == nil {
		t.Error("missing file loaded")
	}
}

func TestParseScenarioErrors(t *testing.T) {
	tests := []struct {
		name string
		yml  string
		want []string
	}{
		{"syntax", "callers: [\n", []string{"s.yaml:1:10: "}},
		{"unknown key", "callers:\n  - from: x\n    bogus: 1\n", []string{"s.yaml:3:5: unknown field \"bogus\""}},
		{"unknown top key", "caller: []\n", []string{"s.yaml:1:1: unknown field \"caller\""}},
		{"bad duration", "callers:\n  - at: [5]\n", []string{"s.yaml:2:9: at: want a duration"}},
		{"bad duration text", "callers:\n  - at: soon\n", []string{"s.yaml:2:9: at: bad duration \"soon\""}},
		{"negative times and bad digits", "callers:\n  - at: -1s\n    dtmf: [{at: -2, digits: \"1x\"}]\n",
			[]string{"s.yaml:2:9: at: negative duration", "s.yaml:3:17: dtmf at: negative duration", "s.yaml:3:29: invalid DTMF digit \"x\""}},
		{"missing digits", "callers:\n  - dtmf: [{at: 1s}]\n", []string{"s.yaml:2:17: dtmf item needs digits"}},
		{"duplicate ids", "callers:\n  - {}\n  - id: caller-1\n", []string{"s.yaml:3:9: duplicate caller id \"caller-1\""}},
		{"bad behaviour and duplicate endpoint", "agents:\n  - endpoint: a\n    behaviour: maybe\n  - endpoint: a\n",
			[]string{"s.yaml:3:16: unknown behaviour \"maybe\"", "s.yaml:4:15: duplicate agent endpoint \"a\""}},
		{"attempts with schedule", "customers:\n  - number: '1'\n    schedule: [{at: 0s, behaviour: busy}]\n    attempts: [answer]\n",
			[]string{"s.yaml:4:15: attempts cannot be combined"}},
		{"schedule out of order", "agents:\n  - endpoint: a\n    schedule: [{at: 5s, behaviour: busy}, {at: 2s, behaviour: answer}]\n",
			[]string{"s.yaml:3:48: schedule steps must be in increasing time order"}},
		{"customer with endpoint", "customers:\n  - endpoint: x\n", []string{"s.yaml:2:15: a customer has a number"}},
		{"agent without endpoint", "agents:\n  - talk: 5s\n", []string{"s.yaml:2:5: agent needs an endpoint"}},
		{"zero talk", "agents:\n  - endpoint: a\n    talk: 0s\n", []string{"s.yaml:3:11: talk must be positive"}},
		{"zero prompt duration", "prompt_duration: 0s\n", []string{"s.yaml:1:18: prompt_duration must be positive"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScenario("s.yaml", []byte(tc.yml))
			if err == nil {
				t.Fatal("no error")
			}
			var pe *PosError
			if !errors.As(err, &pe) {
				t.Errorf("error %v is not a *PosError", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}

// TestScenarioNumberDurations: a plain number is seconds, as in flows and
// the service configuration (one grammar, internal/duration).
func TestScenarioNumberDurations(t *testing.T) {
	src := "prompt_duration: 1.5\nprompts: {\"sound:x\": 3}\ncallers:\n  - at: 2\n    speak: 4\n    hangup_at: \"60\"\n    dtmf: [{at: 0.25, digits: \"1\"}]\n" +
		"agents:\n  - endpoint: a\n    answer_after: 0\n    talk: 20\n    schedule: [{at: 30, behaviour: answer}]\n"
	sc, err := ParseScenario("s.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c, a := sc.Callers[0], sc.Agents[0]
	got := []time.Duration{sc.PromptDuration, sc.Prompts["sound:x"], c.At, *c.Speak, *c.HangupAt, c.DTMF[0].At, a.AnswerAfter, a.Talk, a.Schedule[0].At}
	want := []time.Duration{1500 * time.Millisecond, 3 * time.Second, 2 * time.Second, 4 * time.Second, 60 * time.Second, 250 * time.Millisecond, 0, 20 * time.Second, 30 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("durations = %v, want %v", got, want)
	}
}
