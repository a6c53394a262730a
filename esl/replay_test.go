package esl

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// replayServer plays FreeSWITCH from a transcript: it expects the exact
// sent bytes, in order, and answers each with the frames received after it.
func replayServer(t *testing.T, blocks []block) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { // ends after one connection is replayed
		defer ln.Close()
		nc, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer nc.Close()
		i := 0
		flush := func() error {
			for ; i < len(blocks) && !blocks[i].sent; i++ {
				if _, err := nc.Write(blocks[i].data); err != nil {
					return err
				}
			}
			return nil
		}
		if err := flush(); err != nil {
			errc <- err
			return
		}
		for i < len(blocks) {
			want := blocks[i].data
			got := make([]byte, len(want))
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(nc, got); err != nil {
				errc <- err
				return
			}
			if !bytes.Equal(got, want) {
				errc <- errors.New("client sent " + string(got) + "\nwant " + string(want))
				return
			}
			i++
			if err := flush(); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	return ln.Addr().String(), errc
}

// TestReplayBridgeAndOriginate drives the client through the whole
// bridge-and-originate capture and checks every byte it sends.
func TestReplayBridgeAndOriginate(t *testing.T) {
	blocks := readTranscript(t, "bridge-and-originate.txt")
	addr, errc := replayServer(t, blocks)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, "ClueCon", Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const (
		caller = "b4d04f08-89da-48f2-8cf3-8cd735fa2ad4"
		agent  = "ea7f49cc-5774-48a3-b71b-1a39bad4f574"
		failed = "e3661868-cacf-47df-91ff-de2c8ea756d9"
		j1     = "e036b3d4-197f-4004-af58-ae6f2304ac17"
		j2     = "8341dc44-18bc-43b5-8685-7e7f555100a0"
		j3     = "fa45b1ff-45b8-416b-8e70-2db7647c26de"
	)
	callerEvents := c.Watch(caller)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Subscribe(ctx, "plain", "CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE",
		"CHANNEL_PARK", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE",
		"CHANNEL_DESTROY", "BACKGROUND_JOB", "PLAYBACK_START", "PLAYBACK_STOP"))
	for _, f := range []Filter{{"Unique-ID", caller}, {"Unique-ID", agent}, {"Unique-ID", failed},
		{"Job-UUID", j1}, {"Job-UUID", j2}, {"Job-UUID", j3}} {
		must(c.AddFilter(ctx, f))
	}
	orig := func(uuid, num, name string) string {
		a, err := Originate{Vars: []Var{{"origination_uuid", uuid}, {"origination_caller_id_number", num},
			{"origination_caller_id_name", name}}, Endpoint: "loopback/9666/default"}.Args()
		must(err)
		return a
	}
	res, err := c.BgAPI(ctx, BgAPI{Cmd: "originate", Args: orig(caller, "+420111222333", "Caller"), JobUUID: j1})
	must(err)
	if res.Body != "+OK "+caller+"\n" {
		t.Fatalf("job body %q", res.Body)
	}
	_, err = c.API(ctx, API{Cmd: "uuid_broadcast", Args: caller + " local_stream://moh aleg"})
	must(err)
	_, err = c.BgAPI(ctx, BgAPI{Cmd: "originate", Args: orig(agent, "1001", "Agent"), JobUUID: j2})
	must(err)
	_, err = c.API(ctx, API{Cmd: "uuid_bridge", Args: caller + " " + agent})
	must(err)
	_, err = c.API(ctx, API{Cmd: "uuid_kill", Args: agent})
	must(err)
	out, err := c.API(ctx, API{Cmd: "uuid_exists", Args: caller})
	must(err)
	if out != "false" {
		t.Fatalf("uuid_exists %q", out)
	}
	a, err := Originate{Vars: []Var{{"origination_uuid", failed}, {"originate_timeout", "5"}},
		Endpoint: "sofia/external/1234@127.0.0.1:5999"}.Args()
	must(err)
	_, err = c.BgAPI(ctx, BgAPI{Cmd: "originate", Args: a, JobUUID: j3})
	var re *ReplyError
	if !errors.As(err, &re) || re.Cause() != "NORMAL_TEMPORARY_FAILURE" {
		t.Fatalf("failed originate: %v", err)
	}
	for _, tc := range []struct{ args, cause string }{
		{"user/1019 &park()", "USER_NOT_REGISTERED"},
		{"{originate_timeout=3}loopback/9665/default &park()", "NO_ANSWER"},
		{"nosuchendpoint/1234 &park()", "CHAN_NOT_IMPLEMENTED"},
	} {
		_, err := c.API(ctx, API{Cmd: "originate", Args: tc.args})
		if !errors.As(err, &re) || re.Cause() != tc.cause {
			t.Fatalf("originate %s: %v, want %s", tc.args, err, tc.cause)
		}
	}
	_, err = c.Send(ctx, Exit{})
	must(err)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	// The caller's events arrived in wire order on its stream.
	var names []string
	for {
		e, err := callerEvents.Next(ctx)
		if err != nil {
			break
		}
		names = append(names, e.Name())
	}
	want := "CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_EXECUTE CHANNEL_PARK CHANNEL_EXECUTE PLAYBACK_START PLAYBACK_STOP " +
		"CHANNEL_EXECUTE_COMPLETE CHANNEL_EXECUTE_COMPLETE CHANNEL_EXECUTE CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_HANGUP " +
		"CHANNEL_HANGUP_COMPLETE CHANNEL_DESTROY"
	if got := joinSpace(names); got != want {
		t.Fatalf("caller events\n got %s\nwant %s", got, want)
	}
}

func joinSpace(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}
