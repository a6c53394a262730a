package e2etest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/callflow/callflow/config"
	"github.com/callflow/callflow/flowvm"
)

// The rendered configuration must load, and every flow it maps must load
// with the in-queue flows the example flows name.
func TestRenderConfigLoads(t *testing.T) {
	dir := t.TempDir()
	flows, err := DemoDir("flows")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		v    ConfigValues
	}{
		{name: "defaults", v: ConfigValues{ARIURL: "http://127.0.0.1:8088/ari", ARIUser: "callflow", ARIPass: `p"w\d`,
			FlowsDir: flows, StorePath: filepath.Join(dir, "db"), MediaDir: filepath.Join(dir, "media"),
			APIListen: "127.0.0.1:18080", Token: "tok", Agents: []string{"PJSIP/agent1"}}},
		{name: "two agents and own timings", v: ConfigValues{ARIURL: "http://127.0.0.1:8088/ari", ARIUser: "u", ARIPass: "p",
			FlowsDir: flows, StorePath: filepath.Join(dir, "db"), MediaDir: filepath.Join(dir, "media"),
			APIListen: "127.0.0.1:18080", Token: "tok", Agents: []string{"PJSIP/agent1", "PJSIP/agent2"},
			AgentRetry: 3 * time.Second, WrapUp: 2 * time.Second, ANI: "+420111222333", LogLevel: "debug",
			ByDialed: map[string]string{"300": "voicemail"}, DefaultFlow: "decline"}},
		{name: "freeswitch", v: ConfigValues{Switch: FreeSWITCH, ESLInbound: "127.0.0.1:18021", ESLPassword: `p"w\d`,
			OutboundListen: "127.0.0.1:18084", CustomerDial: "sofia/callflow/{e164}@127.0.0.1:15090",
			FlowsDir: flows, StorePath: filepath.Join(dir, "db"), MediaDir: filepath.Join(dir, "media"),
			APIListen: "127.0.0.1:18080", Token: "tok", Agents: []string{"sofia/callflow/agent1@127.0.0.1:15091"}}},
		{name: "named agents", v: ConfigValues{Switch: FreeSWITCH, ESLInbound: "127.0.0.1:18021", ESLPassword: "pw",
			OutboundListen: "127.0.0.1:18084", CustomerDial: "sofia/callflow/{e164}@127.0.0.1:15090",
			FlowsDir: flows, StorePath: filepath.Join(dir, "db"), MediaDir: filepath.Join(dir, "media"),
			APIListen: "127.0.0.1:18080", Token: "tok",
			Agents: []string{"sofia/callflow/agent1@127.0.0.1:15091", "sofia/callflow/agent2@127.0.0.1:15092"}, AgentNames: []string{"agent1", "agent2"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "callflow.yaml")
			if err := RenderConfig(path, tc.v); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path)
			if err != nil {
				b, _ := os.ReadFile(path)
				t.Fatalf("%v\n%s", err, b)
			}
			v := tc.v.withDefaults()
			if v.Switch == FreeSWITCH {
				f := cfg.Switch.FreeSWITCH
				if cfg.Switch.Type != config.FreeSWITCH || f == nil || f.Password != v.ESLPassword || f.Inbound != v.ESLInbound ||
					f.OutboundListen != v.OutboundListen || cfg.Queue.Trunks["customer"].Dial != v.CustomerDial {
					t.Errorf("switch %+v freeswitch %+v: not rendered as given", cfg.Switch, f)
				}
			} else if cfg.Switch.Asterisk == nil || cfg.Switch.Asterisk.Password != v.ARIPass || cfg.API.Token != v.Token {
				t.Errorf("asterisk %+v token %q: secrets not rendered as given", cfg.Switch.Asterisk, cfg.API.Token)
			}
			if len(cfg.Queue.Queues) != 1 {
				t.Fatalf("queues %+v, want support only", cfg.Queue.Queues)
			}
			q := cfg.Queue.Queues[0]
			if q.Name != "support" || !slices.Equal(q.Agents, v.Agents) || q.AgentRetry != v.AgentRetry || q.WrapUp != v.WrapUp || q.Callback.ANI != v.ANI {
				t.Errorf("queue %+v, want agents %v retry %v wrap-up %v ani %s", q, v.Agents, v.AgentRetry, v.WrapUp, v.ANI)
			}
			for i, name := range v.AgentNames {
				if got := cfg.Queue.AgentNames[v.Agents[i]]; got != name {
					t.Errorf("agent %s named %q, want %q", v.Agents[i], got, name)
				}
			}
			for dialed, flow := range v.ByDialed {
				if cfg.Flows.ByDialed[dialed] != flow {
					t.Errorf("by_dialed[%s] = %q, want %q", dialed, cfg.Flows.ByDialed[dialed], flow)
				}
				if _, err := flowvm.Load(os.DirFS(cfg.Flows.Dir), flow+".yaml"); err != nil {
					t.Errorf("flow %s: %v", flow, err)
				}
			}
		})
	}
}
