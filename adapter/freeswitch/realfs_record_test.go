package freeswitch

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/esl"
	"github.com/callflow/callflow/esl/esltest"
	"github.com/callflow/callflow/internal/fstest"
	"github.com/callflow/callflow/internal/sipptest"
)

// updateTranscripts rewrites esl/testdata's real-FreeSWITCH transcripts
// from this run: go test ./adapter/freeswitch -run 'TestRealFreeSWITCH/ring' -update-transcripts
var updateTranscripts = flag.Bool("update-transcripts", false, "write the recorded real-FreeSWITCH transcripts into esl/testdata")

// ringResult is what one ring trial observed.
type ringResult struct {
	rang time.Duration // bgapi sent → BACKGROUND_JOB
	body string
}

// ringTrials originates to endpoint (a UAS that never answers) on the
// event socket at addr: twice with originate_timeout=2, started just after
// and late in a wall-clock second, then once with originate_timeout=10
// ended by "uuid_kill U NO_ANSWER" after 300 ms.
func ringTrials(ctx context.Context, t *testing.T, addr, password, endpoint string) []ringResult {
	t.Helper()
	conn, err := esl.Dial(ctx, addr, password, esl.Options{})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	if err := conn.Subscribe(ctx, esl.FormatPlain, "CHANNEL_CREATE", "CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB"); err != nil {
		t.Fatal(err)
	}
	trial := func(startFrac time.Duration, timeout int, kill time.Duration) ringResult {
		now := time.Now()
		wait := (startFrac - time.Duration(now.UnixNano())%time.Second + time.Second) % time.Second
		time.Sleep(wait)
		uuid, job := esl.NewUUID(), esl.NewUUID()
		if err := conn.AddFilter(ctx, esl.Filter{Header: "Unique-ID", Value: uuid}); err != nil {
			t.Fatal(err)
		}
		args, err := esl.Originate{Vars: []esl.Var{{Name: "origination_uuid", Value: uuid},
			{Name: "originate_timeout", Value: fmt.Sprint(timeout)}}, Endpoint: endpoint, App: "park"}.Args()
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		j, err := conn.StartBgAPI(ctx, esl.BgAPI{Cmd: "originate", Args: args, JobUUID: job})
		if err != nil {
			t.Fatal(err)
		}
		if kill > 0 {
			time.Sleep(kill)
			if _, err := conn.API(ctx, esl.API{Cmd: "uuid_kill", Args: uuid + " NO_ANSWER"}); err != nil {
				t.Errorf("uuid_kill: %v", err)
			}
		}
		res, err := j.Wait(ctx)
		r := ringResult{rang: time.Since(t0), body: res.Body}
		var re *esl.ReplyError
		if errors.As(err, &re) {
			r.body = "-ERR " + re.Cause()
		} else if err != nil {
			t.Fatalf("originate: %v", err)
		}
		if err := conn.DeleteFilter(ctx, esl.FilterDelete{Header: "Unique-ID", Value: uuid}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	return []ringResult{
		trial(50*time.Millisecond, 2, 0),
		trial(850*time.Millisecond, 2, 0),
		trial(100*time.Millisecond, 10, 300*time.Millisecond),
	}
}

// checkRing asserts FreeSWITCH's originate_timeout semantics on results.
func checkRing(t *testing.T, who string, rs []ringResult) {
	t.Helper()
	t.Logf("%s: rang %v (start .05 s), %v (start .85 s), killed after %v", who, rs[0].rang, rs[1].rang, rs[2].rang)
	for i, r := range rs {
		if strings.TrimSpace(r.body) != "-ERR NO_ANSWER" {
			t.Errorf("%s: trial %d: result %q, want -ERR NO_ANSWER", who, i, r.body)
		}
	}
	// originate_timeout=2 ends at the second boundary two seconds on.
	if r := rs[0].rang; r < 1600*time.Millisecond || r > 2400*time.Millisecond {
		t.Errorf("%s: started at .05 s, originate_timeout=2 rang %v, want about 1.95 s", who, r)
	}
	if r := rs[1].rang; r < 900*time.Millisecond || r > 1500*time.Millisecond {
		t.Errorf("%s: started at .85 s, originate_timeout=2 rang %v, want about 1.15 s (whole seconds)", who, r)
	}
	if r := rs[2].rang; r > 1500*time.Millisecond {
		t.Errorf("%s: uuid_kill NO_ANSWER of a ringing originate: job after %v, want at once", who, r)
	}
}

// realRingTimeout records, on the real FreeSWITCH, how originate_timeout
// ends an unanswered call and what uuid_kill NO_ANSWER does to a ringing
// originate (the driver's exact ring timer), and checks that esltest
// behaves the same. With -update-transcripts the recording replaces
// esl/testdata/originate-ring-timeout.txt.
func realRingTimeout(t *testing.T, fs *fstest.FreeSWITCH) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	uas, err := sipptest.StartUAS(ctx, sipptest.UASOptions{Mode: sipptest.NoAnswer, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer uas.Stop()
	endpoint := fmt.Sprintf("sofia/%s/agent1@127.0.0.1:%d", fstest.SIPProfile, uas.Port)

	var buf strings.Builder
	rec := esltest.NewRecorder(&buf,
		"FreeSWITCH 1.10.12 inbound ESL: originate_timeout counts whole seconds; uuid_kill ends a ringing originate",
		"format: see README.md (marker line, N raw bytes, one '\\n' separator)",
		"recorded by adapter/freeswitch TestRealFreeSWITCH/ring_timeout through esltest.Recorder; the endpoint is a sipp UAS that never answers",
		"trial 1: originate_timeout=2 sent at .05 s into a second; trial 2: the same at .85 s; trial 3: originate_timeout=10, uuid_kill U NO_ANSWER 300 ms later")
	pctx, stopProxy := context.WithCancel(ctx)
	proxy, err := rec.Proxy(pctx, "127.0.0.1:0", fs.ESLAddress, "inbound", true)
	if err != nil {
		t.Fatal(err)
	}
	real := ringTrials(ctx, t, proxy, fs.Password, endpoint)
	stopProxy()
	rec.Wait()
	if err := rec.Err(); err != nil {
		t.Fatal(err)
	}
	checkRing(t, "freeswitch", real)

	srv, err := esltest.NewServer(esltest.Options{TimeScale: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Script(endpoint, esltest.Fate{Outcome: esltest.NoAnswer})
	checkRing(t, "esltest", ringTrials(ctx, t, srv.Addr(), "ClueCon", endpoint))

	transcript := strings.ReplaceAll(buf.String(), fs.Password, strings.Repeat("x", len(fs.Password)))
	if *updateTranscripts && !t.Failed() {
		path := filepath.Join("..", "..", "esl", "testdata", "originate-ring-timeout.txt")
		if err := os.WriteFile(path, []byte(transcript), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", path, len(transcript))
	}
}
