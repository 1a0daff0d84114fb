package test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// crossInstance is the longest an event or notification may take to reach
// a subscriber on another instance: a few polls, each paced by how long the
// test server takes to read the log, with room for a loaded machine, where
// a read may take a second and the next poll then waits a few.
const crossInstance = 8 * time.Second

func TestEventsReachSubscribersOnEveryInstance(t *testing.T) {
	params := mongoParams(t)
	a, b := startMongoService(t, params), startMongoService(t, params)
	onA := openStream(t, a+"/v1/sessions/events?user_id=u1")
	onB := openStream(t, b+"/v1/sessions/events?user_id=u1")

	var ids []int64
	for i, step := range []struct {
		on, name string
		args     map[string]any
	}{
		{a, "open_session", map[string]any{"user_id": "u1"}},
		{b, "open_session", map[string]any{"user_id": "u1"}},
		{a, "open_session", map[string]any{"user_id": "u1"}},
	} {
		start := time.Now()
		wantStatus(t, command(t, step.on, step.name, step.args), http.StatusOK)
		for _, on := range []struct {
			name   string
			stream *sseStream
		}{{"A", onA}, {"B", onB}} {
			name, e := on.name, on.stream.event(t)
			if took := time.Since(start); took > crossInstance {
				t.Errorf("step %d: the event reached %s after %v; want within %v", i, name, took, crossInstance)
			}
			if name == "A" {
				ids = append(ids, e.ID)
			} else if e.ID != ids[len(ids)-1] {
				t.Errorf("step %d: instance B saw id %d, A %d; want one id on every instance", i, e.ID, ids[len(ids)-1])
			}
		}
	}
	if !(ids[0] < ids[1] && ids[1] < ids[2]) {
		t.Errorf("ids %v; want increasing across instances", ids)
	}

	// A subscriber that moves from A to B resumes where it left off.
	id := openSession(t, a, map[string]any{"user_id": "u1"})["id"].(string)
	wantStatus(t, command(t, a, "close_session", map[string]any{"session_id": id}), http.StatusOK)
	waitFor(t, "B to read the close", func() bool {
		return len(command(t, b, "get_sessions", map[string]any{"filter": map[string]any{"id": id, "active": false}}).JSON(t)["data"].([]any)) == 1
	})
	onB.wantTypes(t, "opened", "closed") // B has them, so the subscriber below resumes from them
	resumed := openStream(t, b+"/v1/sessions/events?user_id=u1", "Last-Event-ID", strconv.FormatInt(ids[2], 10))
	got := resumed.wantTypes(t, "opened", "closed")
	if got[0].Session.ID != id {
		t.Errorf("replayed %s; want %s", got[0].Session.ID, id)
	}
}

// An event log emptied under running instances (its collection dropped,
// or restored from an older copy) goes on from the ids they had reached:
// their readers, which read after the last id they delivered, find the
// events that follow, and a subscriber's ids keep rising.
func TestEventsGoOnAfterTheEventLogIsDropped(t *testing.T) {
	params := mongoParams(t)
	a, b := startMongoService(t, params), startMongoService(t, params)
	onA := openStream(t, a+"/v1/sessions/events?user_id=u1")
	onB := openStream(t, b+"/v1/sessions/events?user_id=u1")
	var last int64
	for range 3 {
		openSession(t, a, map[string]any{"user_id": "u1"})
		last = onA.event(t).ID
		onB.event(t)
	}
	events := mongoCollection(t, params["MONGO_SERVICE_URI"], params["MONGO_DB"]).Database().Collection("sessions_events")
	if err := events.Drop(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, on := range []string{b, a} {
		openSession(t, on, map[string]any{"user_id": "u1"})
		e := onA.event(t)
		if e.ID <= last {
			t.Errorf("open %d after the drop: event id %d; want above %d", i, e.ID, last)
		}
		if e2 := onB.event(t); e2.ID != e.ID {
			t.Errorf("open %d after the drop: B saw id %d, A %d; want one id on every instance", i, e2.ID, e.ID)
		}
		last = e.ID
	}
}

// An instance started after the drop begins at the log's new end, below
// the running instances' position: one of them, reading, puts its position
// back into the log, and from then on the new instance's events reach it.
func TestAnInstanceStartedAfterTheEventLogIsDroppedIsHeardByTheOthers(t *testing.T) {
	params := mongoParams(t)
	a := startMongoService(t, params)
	onA := openStream(t, a+"/v1/sessions/events?user_id=u1")
	var last int64
	for range 3 {
		openSession(t, a, map[string]any{"user_id": "u1"})
		last = onA.event(t).ID
	}
	events := mongoCollection(t, params["MONGO_SERVICE_URI"], params["MONGO_DB"]).Database().Collection("sessions_events")
	if err := events.Drop(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := startMongoService(t, params)
	// The running instance looks at the log's end at least every 5 s.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		n, err := events.CountDocuments(t.Context(), bson.D{{Key: "last", Value: bson.D{{Key: "$gte", Value: last}}}})
		if err == nil && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the running instance did not put its position %d back into the log: %v", last, err)
		}
	}
	openSession(t, c, map[string]any{"user_id": "u1"})
	if e := onA.event(t); e.ID <= last {
		t.Errorf("the new instance's event reached the old one with id %d; want above %d", e.ID, last)
	}
}

func TestAChangeAnsweredOnOneInstanceIsLoggedBeforeTheNextOnAnother(t *testing.T) {
	params := mongoParams(t)
	a, b := startMongoService(t, params), startMongoService(t, params)
	stream := openStream(t, b+"/v1/sessions/events?user_id=u1")

	const n = 40
	for range n {
		id := openSession(t, a, map[string]any{"user_id": "u1"})["id"].(string)
		wantStatus(t, command(t, b, "close_session", map[string]any{"session_id": id}), http.StatusOK)
	}
	opened := map[string]bool{}
	for range 2 * n {
		e := stream.event(t)
		switch e.Type {
		case "opened":
			opened[e.Session.ID] = true
		case "closed":
			if !opened[e.Session.ID] {
				t.Errorf("session %s: closed before opened; want the order the changes were answered in", e.Session.ID)
			}
		}
	}
}

func TestNotificationsAndStreamEndsReachDevicesOnEveryInstance(t *testing.T) {
	params := mongoParams(t)
	a, b := startMongoService(t, params), startMongoService(t, params)
	id := openSession(t, a, map[string]any{"user_id": "u1"})["id"].(string)
	device := openStream(t, b+"/v1/sessions/notifications?session_id="+id)

	// The sender on A counts the stream on B once B has recorded it.
	waitFor(t, "A to count the stream on B", func() bool {
		return string(command(t, a, "send_notification", map[string]any{"user_id": "u1", "method": "ping"}).Body) == "1"
	})
	start := time.Now()
	wantStatus(t, command(t, a, "send_notification", map[string]any{"user_id": "u1", "method": "chat", "params": "hello"}), http.StatusOK)
	for {
		m := device.next(t)
		if m.Event == "notification" && strings.Contains(m.Data, `"method":"chat"`) {
			break
		}
	}
	if took := time.Since(start); took > crossInstance {
		t.Errorf("the notification reached B after %v; want within %v", took, crossInstance)
	}

	start = time.Now()
	wantStatus(t, command(t, a, "close_session", map[string]any{"session_id": id}), http.StatusOK)
	for {
		m := device.next(t)
		if m.Event == "end" {
			break
		}
	}
	if took := time.Since(start); took > crossInstance {
		t.Errorf("the end reached B after %v; want within %v", took, crossInstance)
	}
	device.wantEnd(t)
}
