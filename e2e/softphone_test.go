package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/e2etest"
)

// baresipAddr is the loopback address the softphone sends from: the
// "caller" identify of deploy/asterisk matches 127.0.0.1, and FreeSWITCH's
// profile takes calls from 127.0.0.1 unauthenticated, so a softphone on the
// same machine must use another loopback address to be identified by its
// account.
const baresipAddr = "127.0.0.2"

// softphone is a running baresip with its ctrl_tcp control connection.
type softphone struct {
	t      *testing.T
	conn   net.Conn
	rd     *bufio.Reader
	events chan map[string]any
	log    *os.File
}

// startSoftphone runs Debian's baresip with the softphone account of
// deploy/asterisk or deploy/freeswitch (password from the running switch)
// and connects to its TCP control module.
func startSoftphone(t *testing.T, sipPort int, password string) *softphone {
	t.Helper()
	bin, err := exec.LookPath("baresip")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("baresip missing under CI=true (Debian package baresip)")
		}
		t.Skip("baresip not installed (Debian package baresip)")
	}
	dir := t.TempDir()
	ctrl := freeTCP(t)
	sip := freeTCP(t)
	config := fmt.Sprintf(`poll_method epoll
sip_listen %s:%d
sip_trans_def udp
module_path /usr/lib/baresip/modules
module g711.so
module aubridge.so
module account.so
module menu.so
module ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:%d
audio_source aubridge,softphone
audio_player aubridge,softphone
audio_alert aubridge,softphone
rtp_ports 30000-30100
net_interface %s
`, baresipAddr, sip, ctrl, baresipAddr)
	account := fmt.Sprintf("<sip:softphone@127.0.0.1:%d;transport=udp>;auth_pass=%s;regint=600;audio_codecs=PCMA,PCMU\n", sipPort, password)
	for name, text := range map[string]string{"config": config, "accounts": account, "contacts": "", "current_contact": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logf, err := os.Create(filepath.Join(dir, "baresip.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sp := &softphone{t: t, events: make(chan map[string]any, 64), log: logf}
	t.Cleanup(func() {
		if sp.conn != nil {
			sp.conn.Close()
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("baresip log:\n%s", b)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(ctrl))
		if err == nil {
			sp.conn, sp.rd = c, bufio.NewReader(c)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip control port: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	go sp.read() // ends when the connection closes (cleanup)
	return sp
}

// read decodes the control connection's netstrings (len:JSON,) into events.
func (sp *softphone) read() {
	defer close(sp.events)
	for {
		n, err := sp.rd.ReadString(':')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(n, ":")))
		if err != nil {
			return
		}
		buf := make([]byte, size+1)
		if _, err := io.ReadFull(sp.rd, buf); err != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal(buf[:size], &m) == nil {
			sp.events <- m
		}
	}
}

// command sends one ctrl_tcp command (netstring-framed JSON).
func (sp *softphone) command(cmd, params string) {
	sp.t.Helper()
	b, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": cmd})
	if _, err := fmt.Fprintf(sp.conn, "%d:%s,", len(b), b); err != nil {
		sp.t.Fatalf("baresip %s: %v", cmd, err)
	}
}

// waitEvent waits for an event of the type given (REGISTER_OK,
// CALL_ESTABLISHED, …); it fails on a *_FAIL event.
func (sp *softphone) waitEvent(ctx context.Context, typ string) map[string]any {
	sp.t.Helper()
	for {
		select {
		case m, ok := <-sp.events:
			if !ok {
				sp.t.Fatalf("baresip control connection closed waiting for %s", typ)
			}
			got, _ := m["type"].(string)
			if got == typ {
				return m
			}
			if strings.HasSuffix(got, "_FAIL") {
				sp.t.Fatalf("baresip: %v while waiting for %s", m, typ)
			}
		case <-ctx.Done():
			sp.t.Fatalf("baresip: no %s: %v", typ, ctx.Err())
		}
	}
}

// TestSoftphoneCallsIVROffer registers baresip as the softphone account,
// calls the ivr-offer flow (202), presses 1 and checks that the callback
// was registered for the account's caller ID, on each switch.
func TestSoftphoneCallsIVROffer(t *testing.T) {
	e2etest.EachSwitch(t, testSoftphoneCallsIVROffer)
}

func testSoftphoneCallsIVROffer(t *testing.T, sw string) {
	r := e2etest.NewRig(t, e2etest.RigOptions{Switch: sw})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	password := r.PBX.SoftphonePassword()
	sp := startSoftphone(t, r.PBX.SIPPort, password)
	// baresip registers as soon as it starts, before the control
	// connection can see REGISTER_OK: ask the switch for the contact.
	var contacts string
	for {
		out, err := r.PBX.Registrations(ctx)
		if err == nil {
			contacts = out
		}
		if err == nil && registered(sw, out) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("softphone not registered: %v\n%s", err, contacts)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("registered:\n%s", contacts)

	sp.command("dial", fmt.Sprintf("sip:%s@127.0.0.1:%d", e2etest.ExtIVROffer, r.PBX.SIPPort))
	sp.waitEvent(ctx, "CALL_ESTABLISHED")
	id := r.InboundCall(20*time.Second, 0)
	// The menu listens while its prompt plays.
	r.Event(10*time.Second, e2etest.Match{Call: id, Source: "flow", Kind: "answer"})
	time.Sleep(time.Second)
	sp.command("sndcode", "1")
	reg := r.Event(20*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "registered"})
	const want = "+420601555666" // caller ID of the softphone account
	if reg.Attrs["number"] != want {
		t.Errorf("callback registered for %q, want the softphone's caller ID %s", reg.Attrs["number"], want)
	}
	sp.waitEvent(ctx, "CALL_CLOSED") // the flow thanks the caller and hangs up
	cbs, err := r.Svc.Callbacks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cbs) != 1 || cbs[0].Number != want {
		t.Errorf("callbacks %+v, want one for %s", cbs, want)
	}
}

// registered tells whether the switch's registrations list (see
// e2etest.PBX.Registrations) holds the softphone account's contact.
func registered(sw, out string) bool {
	if sw == e2etest.FreeSWITCH {
		return regexp.MustCompile(`(?m)^Auth-User:\s+softphone$`).MatchString(out) &&
			regexp.MustCompile(`(?m)^IP:\s+`+regexp.QuoteMeta(baresipAddr)+`$`).MatchString(out)
	}
	return strings.Contains(out, "softphone/sip:softphone")
}

func freeTCP(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
