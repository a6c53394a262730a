package e2etest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/ari"
	"github.com/callflow/callflow/esl"
	"github.com/callflow/callflow/internal/asterisktest"
	"github.com/callflow/callflow/internal/fstest"
)

// The switches the experiences run on (RigOptions.Switch, PBX.Kind).
const (
	Asterisk   = "asterisk"
	FreeSWITCH = "freeswitch"
)

// Switches lists every switch an end-to-end test runs on, in order.
var Switches = []string{Asterisk, FreeSWITCH}

// EachSwitch runs f as a subtest per switch of Switches, named after it
// (TestX/asterisk, TestX/freeswitch), one after the other: each subtest
// starts its own switch, and only one switch runs on the machine at a time.
func EachSwitch(t *testing.T, f func(t *testing.T, sw string)) {
	t.Helper()
	for _, sw := range Switches {
		t.Run(sw, func(t *testing.T) { f(t, sw) })
	}
}

// AgentCount is how many agent phones a PBX offers (agent1..agentN).
const AgentCount = asterisktest.AgentCount

// PBX is the switch under a rig or the demo: the real Asterisk or the real
// FreeSWITCH, with the SIP port callers dial, the ports of the agents' and
// the customer's phones and the endpoints callflow dials them by.
type PBX struct {
	Kind string
	Ast  *asterisktest.Asterisk // when Kind is Asterisk
	FS   *fstest.FreeSWITCH     // when Kind is FreeSWITCH

	SIPPort      int   // where callers send their INVITE
	AgentPorts   []int // UAS ports of agent1..agentN
	CustomerPort int   // UAS port of the customer trunk
}

// AsteriskPBX wraps a running Asterisk: agents are PJSIP/agentN and the
// customer trunk PJSIP/{e164}@customer (deploy/asterisk/pjsip.conf).
func AsteriskPBX(a *asterisktest.Asterisk) *PBX {
	return &PBX{Kind: Asterisk, Ast: a, SIPPort: a.SIPPort, AgentPorts: a.AgentPorts, CustomerPort: a.CustomerPort}
}

// FreeSWITCHPBX wraps a running FreeSWITCH and chooses free loopback ports
// for the phones: FreeSWITCH has no agent or trunk configuration, callflow
// dials the phones' addresses through profile "callflow"
// (sofia/callflow/agent1@127.0.0.1:PORT, sofia/callflow/{e164}@127.0.0.1:PORT).
func FreeSWITCHPBX(f *fstest.FreeSWITCH) (*PBX, error) {
	ports, err := freeUDPPorts(AgentCount + 1)
	if err != nil {
		return nil, err
	}
	return &PBX{Kind: FreeSWITCH, FS: f, SIPPort: f.SIPPort, CustomerPort: ports[0], AgentPorts: ports[1:]}, nil
}

// RequirePBX starts the switch kind for t and stops it in t.Cleanup.
// Asterisk: asterisktest.Require (fails when Asterisk cannot run; skipped
// only on CALLFLOW_SKIP_ASTERISK=1 outside CI). FreeSWITCH: fstest.Require
// (skipped when FreeSWITCH is not installed and CI is unset; fails under CI).
func RequirePBX(t testing.TB, kind string) *PBX {
	t.Helper()
	switch kind {
	case "", Asterisk:
		return AsteriskPBX(asterisktest.Require(t))
	case FreeSWITCH:
		p, err := FreeSWITCHPBX(fstest.Require(t, fstest.Options{}))
		if err != nil {
			t.Fatal(err)
		}
		return p
	default:
		t.Fatalf("e2etest: unknown switch %q", kind)
		return nil
	}
}

// AgentEndpoint is the endpoint of agent n (1-based) in the queue's agents.
func (p *PBX) AgentEndpoint(n int) string {
	if p.Kind == FreeSWITCH {
		return "sofia/" + fstest.SIPProfile + "/agent" + strconv.Itoa(n) + "@127.0.0.1:" + strconv.Itoa(p.AgentPorts[n-1])
	}
	return "PJSIP/agent" + strconv.Itoa(n)
}

// SoftphonePassword is the password of the switch's softphone account
// (deploy/asterisk/pjsip.conf, deploy/freeswitch/directory/softphone.xml).
func (p *PBX) SoftphonePassword() string {
	if p.Kind == FreeSWITCH {
		return p.FS.SoftphonePassword
	}
	return p.Ast.SoftphonePassword
}

// Registrations lists the switch's registered contacts as the switch
// prints them (Asterisk: "pjsip show contacts"; FreeSWITCH: "sofia status
// profile callflow reg").
func (p *PBX) Registrations(ctx context.Context) (string, error) {
	if p.Kind == FreeSWITCH {
		return FSAPI(ctx, p.FS, "sofia", "status profile "+fstest.SIPProfile+" reg")
	}
	return p.Ast.CLI(ctx, "pjsip show contacts")
}

// CustomerDial is the customer trunk's dial template.
func (p *PBX) CustomerDial() string {
	if p.Kind == FreeSWITCH {
		return "sofia/" + fstest.SIPProfile + "/{e164}@127.0.0.1:" + strconv.Itoa(p.CustomerPort)
	}
	return "PJSIP/{e164}@customer"
}

// customerLegMark is how a channel to the customer trunk is named: PJSIP's
// "PJSIP/customer-…", sofia's "sofia/callflow/NUMBER@127.0.0.1:PORT".
func (p *PBX) customerLegMark() string {
	if p.Kind == FreeSWITCH {
		return "@127.0.0.1:" + strconv.Itoa(p.CustomerPort)
	}
	return "PJSIP/customer-"
}

// Channel is a channel up in the switch, as the switch itself lists it.
type Channel struct {
	ID   string `json:"id"`   // Asterisk channel id, FreeSWITCH Unique-ID
	Name string `json:"name"` // "PJSIP/agent1-00000001", "sofia/callflow/agent1@127.0.0.1:5091"
	// Asterisk only: state ("Up", "Ringing", …), creation time, and the
	// numbers of the caller and of the other party.
	State     string       `json:"state"`
	Created   string       `json:"creationtime"`
	Caller    ari.CallerID `json:"caller"`
	Connected ari.CallerID `json:"connected"`
	// Application and its data the channel runs now (FreeSWITCH only).
	Application     string `json:"-"`
	ApplicationData string `json:"-"`
}

// Channels lists the switch's channels (Asterisk: ARI GET /channels;
// FreeSWITCH: "show channels as json" over the inbound event socket).
func (p *PBX) Channels(ctx context.Context) ([]Channel, error) {
	if p.Kind == FreeSWITCH {
		return fsChannels(ctx, p.FS)
	}
	return ariChannels(ctx, p.Ast)
}

// CustomerLegs lists the channels to the customer trunk that are up now.
func (p *PBX) CustomerLegs(ctx context.Context) ([]Channel, error) {
	chs, err := p.Channels(ctx)
	if err != nil {
		return nil, err
	}
	var legs []Channel
	for _, c := range chs {
		if strings.Contains(c.Name, p.customerLegMark()) {
			legs = append(legs, c)
		}
	}
	return legs, nil
}

// holdMusicPrefix is what FreeSWITCH plays in a holding bridge
// (adapter/freeswitch: uuid_broadcast of local_stream://moh).
const holdMusicPrefix = "local_stream://"

// OnHold reports whether the call (callflow's call id) waits in a holding
// bridge: Asterisk lists it in a bridge of type holding; FreeSWITCH, whose
// holding bridges exist only in callflow, plays it the hold music stream.
func (p *PBX) OnHold(ctx context.Context, callID string) (bool, error) {
	if p.Kind != FreeSWITCH {
		b, in, err := BridgeOf(ctx, p.Ast, callID)
		return in && b.BridgeType == "holding", err
	}
	chs, err := p.Channels(ctx)
	if err != nil {
		return false, err
	}
	for _, c := range chs {
		if c.ID == callID {
			return strings.Contains(c.ApplicationData, holdMusicPrefix), nil
		}
	}
	return false, nil
}

// WaitHold polls until OnHold(callID) is want.
func (p *PBX) WaitHold(ctx context.Context, callID string, want bool) error {
	for {
		got, err := p.OnHold(ctx, callID)
		if err == nil && got == want {
			return nil
		}
		select {
		case <-ctx.Done():
			chs, _ := p.Channels(context.WithoutCancel(ctx))
			return fmt.Errorf("e2etest: call %s on hold %v (err %v), want %v: %w; channels %+v", callID, got, err, want, context.Cause(ctx), chs)
		case <-time.After(pollInterval):
		}
	}
}

// FSAPI runs one api command on FreeSWITCH's inbound event socket.
func FSAPI(ctx context.Context, f *fstest.FreeSWITCH, cmd, args string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	c, err := esl.Dial(ctx, f.ESLAddress, f.Password, esl.Options{})
	if err != nil {
		return "", fmt.Errorf("e2etest: esl %s: %w", f.ESLAddress, err)
	}
	defer c.Close()
	out, err := c.API(ctx, esl.API{Cmd: cmd, Args: args})
	if err != nil {
		return "", fmt.Errorf("e2etest: esl api %s %s: %w", cmd, args, err)
	}
	return out, nil
}

func fsChannels(ctx context.Context, f *fstest.FreeSWITCH) ([]Channel, error) {
	out, err := FSAPI(ctx, f, "show", "channels as json")
	if err != nil {
		return nil, err
	}
	var res struct {
		Rows []struct {
			UUID            string `json:"uuid"`
			Name            string `json:"name"`
			Application     string `json:"application"`
			ApplicationData string `json:"application_data"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return nil, fmt.Errorf("e2etest: show channels as json: %w: %q", err, out)
	}
	chs := make([]Channel, 0, len(res.Rows))
	for _, r := range res.Rows {
		chs = append(chs, Channel{ID: r.UUID, Name: r.Name, Application: r.Application, ApplicationData: r.ApplicationData})
	}
	return chs, nil
}

// freeUDPPorts returns n distinct loopback UDP ports free right now.
func freeUDPPorts(n int) ([]int, error) {
	var conns []net.PacketConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	ports := make([]int, 0, n)
	for len(ports) < n {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("e2etest: free udp port: %w", err)
		}
		conns = append(conns, c)
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	return ports, nil
}
