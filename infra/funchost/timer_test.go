package funchost_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"meterline/shared/azurite/azuritetest"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"meterline/infra/funchost"
)

type timerData struct {
	Data struct {
		Timer struct {
			Schedule       map[string]any
			ScheduleStatus *struct{ Last, Next, LastUpdated string }
			IsPastDue      bool
		} `json:"timer"`
	}
	Metadata map[string]any
}

func timerApp(t *testing.T, storage, schedule string, extra string) *testApp {
	return newTestApp(t, fmt.Sprintf(defaultHostJSON, "false"), map[string]string{
		"Tick": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"%TickSchedule%"` + extra + `}]}`,
	}, map[string]string{"AzureWebJobsStorage": storage, "TickSchedule": schedule, "AzureFunctionsWebHost__hostid": "meterline-test"})
}

func timerInvocations(t *testing.T, a *testApp) []timerData {
	var out []timerData
	for _, inv := range readRecord(t, a.Record) {
		if inv.Fn != "Tick" {
			continue
		}
		var d timerData
		must(t, json.Unmarshal(inv.Request, &d))
		out = append(out, d)
	}
	return out
}

func readStatusBlob(t *testing.T, conn, function string) map[string]string {
	t.Helper()
	c, err := azblob.NewClientFromConnectionString(conn, nil)
	must(t, err)
	resp, err := c.DownloadStream(context.Background(), "azure-webjobs-hosts", funchost.TimerStatusBlob("meterline-test", function), nil)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var st map[string]string
	must(t, json.Unmarshal(b, &st))
	return st
}

func TestTimerRunsOnScheduleAndKeepsStatus(t *testing.T) {
	az := azuritetest.Start(t)
	a := timerApp(t, az.ConnectionString(), "*/1 * * * * *", `,"useMonitor":true`)
	startHost(t, []*funchost.App{loadApp(t, a)}, nil)
	waitFor(t, 20*time.Second, "two timer runs", func() bool { return len(timerInvocations(t, a)) >= 2 })

	inv := timerInvocations(t, a)[1]
	if inv.Data.Timer.Schedule["AdjustForDST"] != true || inv.Data.Timer.IsPastDue || inv.Data.Timer.ScheduleStatus == nil {
		t.Errorf("timer data %+v", inv.Data.Timer)
	}
	if len(inv.Metadata) != 1 || inv.Metadata["sys"] == nil {
		t.Errorf("timer Metadata must hold only sys: %v", inv.Metadata)
	}
	st := readStatusBlob(t, az.ConnectionString(), "Tick")
	last, err1 := time.Parse(time.RFC3339Nano, st["Last"])
	next, err2 := time.Parse(time.RFC3339Nano, st["Next"])
	// TimerListener.InvokeJobFunction: Last is when the run started (a moment
	// after the occurrence), Next the schedule's next occurrence after it.
	if err1 != nil || err2 != nil || !next.Equal(last.Truncate(time.Second).Add(time.Second)) {
		t.Errorf("status blob %v (%v %v)", st, err1, err2)
	}
}

func TestTimerPastDueAfterDowntime(t *testing.T) {
	az := azuritetest.Start(t)
	// Every 2 s, monitored, and run at start-up so the first run is immediate.
	a := timerApp(t, az.ConnectionString(), "00:00:02", `,"useMonitor":true,"runOnStartup":true`)
	_, stop := startHost(t, []*funchost.App{loadApp(t, a)}, nil)
	waitFor(t, 20*time.Second, "the start-up run", func() bool { return len(timerInvocations(t, a)) >= 1 })
	stop()
	first := timerInvocations(t, a)
	if first[0].Data.Timer.IsPastDue {
		t.Fatal("first run of a fresh timer must not be past due")
	}
	next, err := time.Parse(time.RFC3339Nano, readStatusBlob(t, az.ConnectionString(), "Tick")["Next"])
	must(t, err)

	// Downtime longer than the interval: the stored Next passes unserved.
	time.Sleep(time.Until(next) + 500*time.Millisecond)
	b := &testApp{Dir: a.Dir, Settings: a.Settings, Record: a.Record}
	startHost(t, []*funchost.App{loadApp(t, b)}, nil)
	waitFor(t, 20*time.Second, "the run after downtime", func() bool { return len(timerInvocations(t, a)) > len(first) })
	after := timerInvocations(t, a)[len(first)]
	if !after.Data.Timer.IsPastDue {
		t.Fatalf("run after downtime: IsPastDue false, status %+v", after.Data.Timer.ScheduleStatus)
	}
	if st := after.Data.Timer.ScheduleStatus; st == nil || st.Next == "" {
		t.Errorf("past-due run must carry the stored status, got %+v", st)
	}
}

func TestTimerSingletonAcrossHosts(t *testing.T) {
	az := azuritetest.Start(t)
	a := timerApp(t, az.ConnectionString(), "*/1 * * * * *", "")
	_, stopA := startHost(t, []*funchost.App{loadApp(t, a, "TESTHANDLER_TAG=host-a")}, nil)
	_, stopB := startHost(t, []*funchost.App{loadApp(t, a, "TESTHANDLER_TAG=host-b")}, nil)

	waitFor(t, 20*time.Second, "four timer runs", func() bool { return len(readRecord(t, a.Record)) >= 4 })
	tags := map[string]int{}
	for _, inv := range readRecord(t, a.Record) {
		tags[inv.Tag]++
	}
	if len(tags) != 1 {
		t.Fatalf("both hosts ran the timer at once: %v", tags)
	}
	holder, other, stop := "host-a", "host-b", stopA
	if tags["host-b"] > 0 {
		holder, other, stop = "host-b", "host-a", stopB
	}
	stop()
	waitFor(t, 20*time.Second, other+" to take over from "+holder, func() bool {
		for _, inv := range readRecord(t, a.Record) {
			if inv.Tag == other {
				return true
			}
		}
		return false
	})
	// One runner per occurrence: no second ran twice.
	seen := map[string]string{}
	for _, inv := range readRecord(t, a.Record) {
		sec := inv.At[:19]
		if prev, dup := seen[sec]; dup {
			t.Errorf("occurrence %s ran twice (%s and %s)", sec, prev, inv.Tag)
		}
		seen[sec] = inv.Tag
	}
}
