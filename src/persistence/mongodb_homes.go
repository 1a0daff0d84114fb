package persistence

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

var (
	_ logic.HomeStore   = (*MongoDB)(nil)
	_ logic.DeviceStore = (*MongoDB)(nil)
	_ logic.SlotStore   = (*MongoDB)(nil)
)

// mongoTables are the collections beside the sessions: <collection>_homes,
// <collection>_devices, <collection>_slots, <collection>_events and
// <collection>_streams. The slots collection has a
// unique index on (home_id, index): an insert into a held place fails with a
// duplicate key on MongoDB and on MongoDB-compatible servers alike, which is
// what makes a home's quota exact across any number of service instances.
type mongoTables struct {
	homes, devices, slots *mongo.Collection
	// events and streams carry events between instances (mongodb_events.go).
	events, streams *mongo.Collection
}

func (m *MongoDB) openTables(ctx context.Context) error {
	db := m.db()
	m.tables = mongoTables{
		homes:   db.Collection(m.collName + "_homes"),
		devices: db.Collection(m.collName + "_devices"),
		slots:   db.Collection(m.collName + "_slots"),
		events:  db.Collection(m.collName + "_events"),
		streams: db.Collection(m.collName + "_streams"),
	}
	for _, ix := range []struct {
		coll *mongo.Collection
		want []mongoIndex
	}{
		{m.tables.devices, []mongoIndex{{keys: bson.D{{Key: "user_id", Value: 1}, {Key: "_id", Value: 1}}}}},
		{m.tables.slots, []mongoIndex{
			{keys: bson.D{{Key: "home_id", Value: 1}, {Key: "index", Value: 1}}, unique: true}, // one holder per place
			{keys: bson.D{{Key: "session_id", Value: 1}}},
		}},
		{m.tables.events, []mongoIndex{{keys: bson.D{{Key: "last", Value: 1}}}}},
	} {
		if err := m.ensureIndexes(ctx, ix.coll, ix.want); err != nil {
			return err
		}
	}
	return nil
}

// SetHome creates or replaces a home.
func (m *MongoDB) SetHome(ctx context.Context, h *sessions.Home) (*sessions.Home, error) {
	if m.coll == nil {
		return nil, errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	if _, err := m.tables.homes.ReplaceOne(ctx, bson.D{{Key: "_id", Value: h.ID}}, h, options.Replace().SetUpsert(true)); err != nil {
		return nil, m.fail(fmt.Sprintf("set home %q", h.ID), err)
	}
	out := *h
	return &out, nil
}

// SetMaxSessions sets a home's max_sessions in one update, creating the
// home with the default policy when there is none.
func (m *MongoDB) SetMaxSessions(ctx context.Context, id string, n int64) (*sessions.Home, error) {
	if m.coll == nil {
		return nil, errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	update := bson.D{
		{Key: "$set", Value: bson.D{{Key: "max_sessions", Value: n}}},
		{Key: "$setOnInsert", Value: bson.D{{Key: "lease_timeout", Value: int64(0)}, {Key: "policy", Value: sessions.PolicyDeny}}},
	}
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)
	var h sessions.Home
	err := m.tables.homes.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: id}}, update, opts).Decode(&h)
	if mongo.IsDuplicateKeyError(err) {
		// Two upserts of a new home raced (MongoDB before 4.2 does not
		// retry that itself): the home exists now, so this one updates it.
		err = m.tables.homes.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: id}}, update, opts).Decode(&h)
	}
	if err != nil {
		return nil, m.fail(fmt.Sprintf("set max sessions of home %q", id), err)
	}
	return &h, nil
}

// GetHome returns a home, or nil.
func (m *MongoDB) GetHome(ctx context.Context, id string) (*sessions.Home, error) {
	return findOne[sessions.Home](ctx, m, m.tables.homes, id, "get home")
}

// DeleteHome removes a home and returns it, or nil.
func (m *MongoDB) DeleteHome(ctx context.Context, id string) (*sessions.Home, error) {
	return deleteOne[sessions.Home](ctx, m, m.tables.homes, id, "delete home")
}

// GetHomes returns homes ordered by id.
func (m *MongoDB) GetHomes(ctx context.Context, id string, p sessions.Paging) (*sessions.HomePage, error) {
	q := bson.D{}
	if id != "" {
		q = bson.D{{Key: "_id", Value: id}}
	}
	data, total, err := findPage[sessions.Home](ctx, m, m.tables.homes, q, p, "get homes")
	if err != nil {
		return nil, err
	}
	return &sessions.HomePage{Data: data, Total: total}, nil
}

// SetDevice creates or moves a device, and returns the one it replaced:
// one findAndModify, so that of two moves at once each learns what it
// replaced.
func (m *MongoDB) SetDevice(ctx context.Context, d *sessions.Device) (stored, replaced *sessions.Device, err error) {
	if m.coll == nil {
		return nil, nil, errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	s := *d
	s.CreateTime = toMillis(d.CreateTime)
	var old sessions.Device
	err = m.tables.devices.FindOneAndReplace(ctx, bson.D{{Key: "_id", Value: d.ID}}, &s,
		options.FindOneAndReplace().SetUpsert(true).SetReturnDocument(options.Before)).Decode(&old)
	switch {
	case err == nil:
		old.CreateTime = fromBSONTime(old.CreateTime)
		replaced = &old
	case !errors.Is(err, mongo.ErrNoDocuments):
		return nil, nil, m.fail(fmt.Sprintf("set device %q", d.ID), err)
	}
	return &s, replaced, nil
}

// GetDevice returns a device, or nil.
func (m *MongoDB) GetDevice(ctx context.Context, id string) (*sessions.Device, error) {
	d, err := findOne[sessions.Device](ctx, m, m.tables.devices, id, "get device")
	if d != nil {
		d.CreateTime = fromBSONTime(d.CreateTime)
	}
	return d, err
}

// DeleteDevice removes a device and returns it, or nil.
func (m *MongoDB) DeleteDevice(ctx context.Context, id string) (*sessions.Device, error) {
	d, err := deleteOne[sessions.Device](ctx, m, m.tables.devices, id, "delete device")
	if d != nil {
		d.CreateTime = fromBSONTime(d.CreateTime)
	}
	return d, err
}

// GetDevices returns devices ordered by id, those of one user when userID is set.
func (m *MongoDB) GetDevices(ctx context.Context, userID string, p sessions.Paging) (*sessions.DevicePage, error) {
	q := bson.D{}
	if userID != "" {
		q = bson.D{{Key: "user_id", Value: userID}}
	}
	data, total, err := findPage[sessions.Device](ctx, m, m.tables.devices, q, p, "get devices")
	for _, d := range data {
		d.CreateTime = fromBSONTime(d.CreateTime)
	}
	if err != nil {
		return nil, err
	}
	return &sessions.DevicePage{Data: data, Total: total}, nil
}

// TakeSlot inserts s; a duplicate key on (home_id, index) means the place is held.
func (m *MongoDB) TakeSlot(ctx context.Context, s sessions.Slot) (bool, error) {
	if m.coll == nil {
		return false, errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	s.Created = toMillis(s.Created)
	if _, err := m.tables.slots.InsertOne(ctx, &s); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return false, nil
		}
		return false, m.fail(fmt.Sprintf("take slot %q", s.ID), err)
	}
	return true, nil
}

// ReleaseSlot deletes a slot by its id; true only for the call that deleted it.
func (m *MongoDB) ReleaseSlot(ctx context.Context, id string) (bool, error) {
	if m.coll == nil {
		return false, errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	res, err := m.tables.slots.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return false, m.fail(fmt.Sprintf("release slot %q", id), err)
	}
	return res.DeletedCount == 1, nil
}

// GetSlots returns the slots of a home.
func (m *MongoDB) GetSlots(ctx context.Context, homeID string) ([]sessions.Slot, error) {
	return m.findSlots(ctx, bson.D{{Key: "home_id", Value: homeID}})
}

// GetSessionSlots returns the slots a session holds.
func (m *MongoDB) GetSessionSlots(ctx context.Context, sessionID string) ([]sessions.Slot, error) {
	return m.findSlots(ctx, bson.D{{Key: "session_id", Value: sessionID}})
}

func (m *MongoDB) findSlots(ctx context.Context, q bson.D) ([]sessions.Slot, error) {
	if m.coll == nil {
		return nil, errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	cur, err := m.tables.slots.Find(ctx, q)
	if err != nil {
		return nil, m.fail("find slots", err)
	}
	var out []sessions.Slot
	if err := cur.All(ctx, &out); err != nil {
		return nil, m.fail("read slots", err)
	}
	for i := range out {
		out[i].Created = fromBSONTime(out[i].Created)
	}
	return out, nil
}

func findOne[T any](ctx context.Context, m *MongoDB, coll *mongo.Collection, id, op string) (*T, error) {
	if m.coll == nil {
		return nil, errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	var v T
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&v); err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil, nil
		}
		return nil, m.fail(fmt.Sprintf("%s %q", op, id), err)
	}
	return &v, nil
}

func deleteOne[T any](ctx context.Context, m *MongoDB, coll *mongo.Collection, id, op string) (*T, error) {
	if m.coll == nil {
		return nil, errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	var v T
	if err := coll.FindOneAndDelete(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&v); err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil, nil
		}
		return nil, m.fail(fmt.Sprintf("%s %q", op, id), err)
	}
	return &v, nil
}

func findPage[T any](ctx context.Context, m *MongoDB, coll *mongo.Collection, q bson.D, p sessions.Paging, op string) ([]*T, *int64, error) {
	if m.coll == nil {
		return nil, nil, errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetSkip(max(p.Skip, 0))
	if p.Take > 0 {
		opts.SetLimit(p.Take)
	}
	cur, err := coll.Find(ctx, q, opts)
	if err != nil {
		return nil, nil, m.fail(op, err)
	}
	data := []*T{}
	if err := cur.All(ctx, &data); err != nil {
		return nil, nil, m.fail(op, err)
	}
	if !p.Total {
		return data, nil, nil
	}
	n, err := count(ctx, coll, q)
	if err != nil {
		return nil, nil, m.fail(op, err)
	}
	return data, &n, nil
}
