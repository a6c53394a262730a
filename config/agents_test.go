package config

import (
	"reflect"
	"testing"
)

// TestAgentNames: the agents section names agents by person; queues list
// names or endpoints, and get endpoints.
func TestAgentNames(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		agents map[string][]string // queue → endpoints
		names  map[string]string   // queue.Config.AgentNames
	}{
		{name: "no agents section: endpoints as before, no names",
			yaml:   sim + "queues:\n  q:\n    agents: [PJSIP/a, user/1001]\n",
			agents: map[string][]string{"q": {"PJSIP/a", "user/1001"}}},
		{name: "names resolved, endpoints unchanged",
			yaml: sim + `agents:                      # optional
  alice: PJSIP/alice
  bob: "sofia/gateway/pbx1/bob"
  dave: PJSIP/dave
queues:
  support:
    agents: [alice, bob, PJSIP/carol]
  sales:
    agents: bob
  empty:
    agents: []
  none: {}
`,
			agents: map[string][]string{"support": {"PJSIP/alice", "sofia/gateway/pbx1/bob", "PJSIP/carol"}, "sales": {"sofia/gateway/pbx1/bob"}, "empty": {}, "none": nil},
			names:  map[string]string{"PJSIP/alice": "alice", "sofia/gateway/pbx1/bob": "bob", "PJSIP/dave": "dave"}},
		{name: "agents after queues",
			yaml:   sim + "queues:\n  q:\n    agents:\n      - alice\n      - PJSIP/b\nagents:\n  alice: PJSIP/a\n",
			agents: map[string][]string{"q": {"PJSIP/a", "PJSIP/b"}},
			names:  map[string]string{"PJSIP/a": "alice"}},
		{name: "number-like name",
			yaml:   sim + "agents: {\"1001\": user/1001}\nqueues: {q: {agents: [1001]}}\n",
			agents: map[string][]string{"q": {"user/1001"}},
			names:  map[string]string{"user/1001": "1001"}},
		{name: "aliased list of names",
			yaml:   sim + "agents: {alice: PJSIP/a, bob: PJSIP/b}\nqueues:\n  q: {agents: &team [alice, bob]}\n  r: {agents: *team}\n",
			agents: map[string][]string{"q": {"PJSIP/a", "PJSIP/b"}, "r": {"PJSIP/a", "PJSIP/b"}},
			names:  map[string]string{"PJSIP/a": "alice", "PJSIP/b": "bob"}},
		{name: "empty section",
			yaml:  sim + "agents: {}\n",
			names: map[string]string{}},
		{name: "null section: as absent",
			yaml: sim + "agents:\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("c.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, q := range c.Queue.Queues {
				got[q.Name] = q.Agents
			}
			if tt.agents == nil {
				tt.agents = map[string][]string{}
			}
			if !reflect.DeepEqual(got, tt.agents) {
				t.Errorf("agents %#v, want %#v", got, tt.agents)
			}
			if !reflect.DeepEqual(c.Queue.AgentNames, tt.names) {
				t.Errorf("AgentNames %#v, want %#v", c.Queue.AgentNames, tt.names)
			}
			if err := c.Queue.Validate(); err != nil {
				t.Errorf("queue.Config.Validate: %v", err)
			}
		})
	}
}

func TestAgentNamesErrors(t *testing.T) {
	const alice = "agents:\n  alice: PJSIP/alice\n"
	tests := []struct {
		name string
		yaml string
		want string // the one error, exactly
	}{
		{"undefined name",
			sim + alice + "queues:\n  support:\n    agents: [alice, bob]\n",
			`c.yaml:6:21: queue support: agent "bob" is not defined in agents (want a name from agents: or a switch endpoint TECH/resource)`},
		{"undefined name without an agents section",
			sim + "queues:\n  support:\n    agents:\n      - PJSIP/carol\n      - alice\n",
			`c.yaml:6:9: queue support: agent "alice" is not defined in agents (want a name from agents: or a switch endpoint TECH/resource)`},
		{"undefined name as a single item",
			sim + "queues:\n  support:\n    agents: alice\n",
			`c.yaml:4:13: queue support: agent "alice" is not defined in agents (want a name from agents: or a switch endpoint TECH/resource)`},
		{"name not plain in a queue",
			sim + alice + "queues:\n  support:\n    agents: [\"al ice\"]\n",
			`c.yaml:6:14: queue support: agent "al ice" is not defined in agents (want a name from agents: or a switch endpoint TECH/resource)`},
		{"bad endpoint in a queue",
			sim + alice + "queues:\n  support:\n    agents: [alice, \"PJSIP/a b\"]\n",
			`c.yaml:6:21: queue support: agents: "PJSIP/a b" is not a switch endpoint TECH/resource (e.g. PJSIP/agent1, user/1001)`},
		{"two names, one endpoint",
			sim + "agents:\n  alice: PJSIP/x\n  bob: PJSIP/x\n",
			"c.yaml:4:3: agents: bob and alice have the same endpoint PJSIP/x"},
		{"two names, one endpoint, both in a queue: reported once",
			sim + "agents:\n  alice: PJSIP/x\n  bob: PJSIP/x\nqueues:\n  support:\n    agents: [alice, bob]\n",
			"c.yaml:4:3: agents: bob and alice have the same endpoint PJSIP/x"},
		{"name and its endpoint listed twice",
			sim + alice + "queues:\n  support:\n    agents: [alice, PJSIP/alice]\n",
			"c.yaml:6:13: queue support: agent PJSIP/alice listed twice (as alice and as PJSIP/alice)"},
		{"endpoint and its name listed twice",
			sim + alice + "queues:\n  support:\n    agents: [PJSIP/alice, alice]\n",
			"c.yaml:6:13: queue support: agent PJSIP/alice listed twice (as PJSIP/alice and as alice)"},
		{"name listed twice",
			sim + alice + "queues:\n  support:\n    agents: [alice, alice]\n",
			"c.yaml:6:13: queue support: agent PJSIP/alice listed twice"},
		{"bad endpoint value",
			sim + "agents:\n  alice: alice\n",
			`c.yaml:3:10: agents: alice: "alice" is not a switch endpoint TECH/resource (e.g. PJSIP/agent1, user/1001)`},
		{"bad endpoint value, named in a queue: reported once",
			sim + "agents:\n  alice: \"PJSIP/al ice\"\nqueues:\n  support:\n    agents: [alice]\n",
			`c.yaml:3:10: agents: alice: "PJSIP/al ice" is not a switch endpoint TECH/resource (e.g. PJSIP/agent1, user/1001)`},
		{"endpoint a list",
			sim + "agents:\n  alice: [PJSIP/a]\n",
			"c.yaml:3:10: agents: alice: want a single value, not a list"},
		{"name without endpoint",
			sim + "agents:\n  alice:\n",
			"c.yaml:3:3: agents: alice names no endpoint (want a switch endpoint TECH/resource, e.g. PJSIP/alice)"},
		{"bad name",
			sim + "agents:\n  \"a.b\": PJSIP/x\n",
			`c.yaml:3:3: agents: agent name "a.b" is not a plain name (letters, digits, _ and -, starting with a letter or digit, at most 64; no path or extension)`},
		{"bad name, named in a queue: reported once",
			sim + "agents:\n  \"a.b\": PJSIP/x\nqueues: {q: {agents: [a.b]}}\n",
			`c.yaml:3:3: agents: agent name "a.b" is not a plain name (letters, digits, _ and -, starting with a letter or digit, at most 64; no path or extension)`},
		{"section a list",
			sim + "agents: [PJSIP/alice]\n",
			"c.yaml:2:9: agents: want a mapping of keys, not a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := oneError(t, "c.yaml", tt.yaml); got != tt.want {
				t.Fatalf("error\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}
