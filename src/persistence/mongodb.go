package persistence

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
	"go.uber.org/zap"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logging"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Defaults of the MongoDB persistence settings.
const (
	mongoDefaultHost             = "localhost"
	mongoDefaultPort             = 27017
	mongoDefaultCollection       = "sessions"
	mongoDefaultDatabase         = "app"
	mongoDefaultConnectTimeout   = 10 * time.Second
	mongoDefaultOperationTimeout = 5 * time.Second
	mongoDefaultMaxPoolSize      = 100
)

var _ logic.Store = (*MongoDB)(nil)

// MongoDB stores sessions in a MongoDB collection, one document per session
// with the id in _id, as the Node service does, so either service can work
// on a collection the other wrote.
//
// It creates these indexes at Open; with them every query the Filter type
// can express, and every sweep, is served by an index prefix and never
// scans the collection:
//
//   - _id (always present): filter id, GetOneByID, Update, DeleteByID.
//   - {user_id: 1, request_time: -1, _id: -1}: filter user_id, alone or with
//     any other key, in page order, with from_time/to_time as index bounds.
//   - {device_id: 1, request_time: -1, _id: -1}: filter device_id, likewise.
//   - {parent_id: 1, request_time: -1, _id: -1}: filter parent_id, likewise.
//   - {push_address: 1, request_time: -1, _id: -1}: filter push_address
//     (close_address_sessions, send_notification), likewise.
//   - {client: 1, request_time: -1, _id: -1}: filter client, likewise.
//   - {active: 1, request_time: -1, _id: -1}: filter active (alone or with a
//     time range) in page order; the idle branch of ExpiredIDs.
//   - {active: 1, expire_time: 1}: the lapsed-lease branch of ExpiredIDs
//     and of active=false.
//   - {request_time: -1, _id: -1}: no filter or only from_time/to_time, in
//     page order.
//
// When a filter holds several keys the planner picks the most selective
// equality index (id, user, device, parent, push address, client) and checks the rest on
// the documents it reads, which are already in page order.
//
// Every operation runs under the operation timeout. Failures that mean the
// database cannot be reached in time are returned as sessions.Unavailable;
// the driver reconnects by itself when the database returns.
type MongoDB struct {
	log         *zap.Logger
	uri         string // from connection.uri; empty when host/port are used
	hosts       []string
	database    string
	collName    string
	username    string
	password    string
	uriAuth     options.Credential // the auth source and mechanism connection.uri names
	maxPool     uint64
	connectTime time.Duration
	opTime      time.Duration

	client *mongo.Client
	coll   *mongo.Collection
	tables mongoTables
	events eventLog
}

// NewMongoDB returns a MongoDB persistence with the default settings: the
// database "app" on localhost:27017, the collection "sessions".
func NewMongoDB() *MongoDB {
	return &MongoDB{
		log:         zap.NewNop(),
		hosts:       []string{net.JoinHostPort(mongoDefaultHost, strconv.Itoa(mongoDefaultPort))},
		database:    mongoDefaultDatabase,
		collName:    mongoDefaultCollection,
		maxPool:     mongoDefaultMaxPoolSize,
		connectTime: mongoDefaultConnectTimeout,
		opTime:      mongoDefaultOperationTimeout,
	}
}

// Configure reads connection.uri, or connection.host, connection.port,
// connection.database and credential.username/password; collection; and
// options.max_pool_size, options.connect_timeout and options.operation_timeout
// (milliseconds). A database named in the URI wins over connection.database.
func (m *MongoDB) Configure(cfg container.Config) error {
	m.uri = cfg.String("connection.uri", "")
	m.database = cfg.String("connection.database", mongoDefaultDatabase)
	m.collName = cfg.String("collection", mongoDefaultCollection)
	m.username = cfg.String("credential.username", "")
	m.password = cfg.String("credential.password", "")
	m.uriAuth = options.Credential{}
	var err error
	if m.uri != "" {
		err = m.configureURI()
	} else {
		err = m.configureHosts(cfg)
	}
	if err != nil {
		return err
	}
	return m.configureOptions(cfg)
}

// configureURI takes the database and credentials the connection URI names.
func (m *MongoDB) configureURI() error {
	cs, err := connstring.Parse(m.uri)
	if err != nil {
		// The driver's message may quote the URI, password included.
		return fmt.Errorf("connection.uri: %s", redact(err.Error(), m.uri, m.password))
	}
	if cs.Database != "" {
		m.database = cs.Database
	}
	if cs.Username != "" {
		m.username, m.password = "", "" // the URI's credentials win
	}
	// The driver fills in the auth source a mechanism implies
	// ($external for X509, AWS, ...).
	m.uriAuth = options.Credential{AuthSource: cs.AuthSource,
		AuthMechanism: cs.AuthMechanism, AuthMechanismProperties: cs.AuthMechanismProperties}
	return nil
}

// configureHosts reads connection.host, a comma-separated list, and
// connection.port, the port of each host that names none.
func (m *MongoDB) configureHosts(cfg container.Config) error {
	port, err := cfg.Int("connection.port", mongoDefaultPort)
	if err != nil {
		return err
	}
	if port <= 0 || port > 65535 {
		return fmt.Errorf("connection.port: %d is not a TCP port", port)
	}
	m.hosts = m.hosts[:0]
	for _, h := range strings.Split(cfg.String("connection.host", mongoDefaultHost), ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(h, strconv.FormatInt(port, 10))
		}
		m.hosts = append(m.hosts, h)
	}
	if len(m.hosts) == 0 {
		return fmt.Errorf("connection.host: no host given")
	}
	return nil
}

// configureOptions reads the pool size and the timeouts.
func (m *MongoDB) configureOptions(cfg container.Config) error {
	pool, err := cfg.Int("options.max_pool_size", mongoDefaultMaxPoolSize)
	if err != nil {
		return err
	}
	if pool < 0 {
		return fmt.Errorf("options.max_pool_size: %d must not be negative", pool)
	}
	m.maxPool = uint64(pool)
	if m.connectTime, err = cfg.Millis("options.connect_timeout", mongoDefaultConnectTimeout); err != nil {
		return err
	}
	if m.opTime, err = cfg.Millis("options.operation_timeout", mongoDefaultOperationTimeout); err != nil {
		return err
	}
	if m.connectTime == 0 {
		m.connectTime = mongoDefaultConnectTimeout
	}
	if m.opTime == 0 {
		m.opTime = mongoDefaultOperationTimeout
	}
	// An insert of a session in a home must end well before its place may
	// be taken for one whose session never came.
	if m.opTime > logic.MaxStoreOperation {
		return fmt.Errorf("options.operation_timeout: %d ms is more than %d ms, a quarter of the time a home's place waits for its session",
			m.opTime.Milliseconds(), logic.MaxStoreOperation.Milliseconds())
	}
	return nil
}

// SetReferences picks up the process logger.
func (m *MongoDB) SetReferences(refs *container.References) error {
	m.log = logging.For(refs, "persistence.mongodb")
	return nil
}

// Open connects, checks within the connect timeout that the database
// answers, and creates the indexes.
func (m *MongoDB) Open(ctx context.Context) error {
	client, err := mongo.Connect(m.clientOptions())
	if err != nil {
		return fmt.Errorf("mongodb connect to %s: %s", m.where(), m.redact(err))
	}
	pingCtx, cancel := context.WithTimeout(ctx, m.connectTime)
	defer cancel()
	if err := client.Ping(pingCtx, nil); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx)) // the ping error is the one that matters
		// A start interrupted is not a database that refused.
		if ctx.Err() != nil {
			return fmt.Errorf("mongodb at %s: %w", m.where(), ctx.Err())
		}
		if !mongo.IsTimeout(err) { // it answered, with a refusal of the login
			return fmt.Errorf("mongodb at %s refused the connection: %s", m.where(), m.redact(err))
		}
		return fmt.Errorf("mongodb at %s did not answer within %s: %s", m.where(), m.connectTime, m.redact(err))
	}
	m.client = client
	m.coll = m.db().Collection(m.collName)
	err = m.ensureIndexes(ctx, m.coll, mongoIndexes())
	if err == nil {
		err = m.openTables(ctx)
	}
	if err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx)) // the index error is the one that matters
		m.client, m.coll = nil, nil
		return err
	}
	m.log.Info("connected", zap.String("server", m.where()),
		zap.String("database", m.database), zap.String("collection", m.collName))
	return nil
}

// db returns the database with the concerns the service's guarantees rest
// on, whatever the connection string asks: writes acknowledged by a
// majority (journaled, as MongoDB does by default for majority writes), so
// that a failover rolls back no place of a home nor any acknowledged
// session; reads from the primary, at its latest, so that a full home is
// seen full and the event log's end is its end.
func (m *MongoDB) db() *mongo.Database { return m.client.Database(m.database, dbOptions()) }

func dbOptions() *options.DatabaseOptionsBuilder {
	return options.Database().
		SetWriteConcern(writeconcern.Majority()).
		SetReadConcern(readconcern.Local()).
		SetReadPreference(readpref.Primary())
}

// clientOptions returns the options Open connects with. Credentials from
// credential.username/password keep the auth source and mechanism the URI
// names (as in mongodb://db/app?authSource=admin); the auth source is the
// database when the URI names none.
func (m *MongoDB) clientOptions() *options.ClientOptions {
	opts := options.Client().
		SetAppName("service-sessions").
		SetMaxPoolSize(m.maxPool).
		SetConnectTimeout(m.connectTime).
		SetServerSelectionTimeout(m.connectTime)
	switch {
	case m.uri != "" && m.username != "":
		// The credentials come from the settings, with the mechanism the
		// URI names (kept in uriAuth): the driver refuses a URI that names
		// a mechanism and no user, so the URI goes without it.
		opts.ApplyURI(withoutAuthMechanism(m.uri))
	case m.uri != "":
		opts.ApplyURI(m.uri)
	default:
		opts.SetHosts(m.hosts)
	}
	if m.username != "" {
		cred := m.uriAuth
		cred.Username, cred.Password, cred.PasswordSet = m.username, m.password, m.password != ""
		if cred.AuthSource == "" {
			cred.AuthSource = m.database
		}
		opts.SetAuth(cred)
	}
	return opts
}

// withoutAuthMechanism returns a connection string without its
// authMechanism and authMechanismProperties options.
func withoutAuthMechanism(uri string) string {
	base, query, ok := strings.Cut(uri, "?")
	if !ok {
		return uri
	}
	var kept []string
	for _, opt := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' }) {
		key, _, _ := strings.Cut(opt, "=")
		if !strings.EqualFold(key, "authMechanism") && !strings.EqualFold(key, "authMechanismProperties") {
			kept = append(kept, opt)
		}
	}
	if len(kept) == 0 {
		return base
	}
	return base + "?" + strings.Join(kept, "&")
}

// Close disconnects from the database, waiting for it at most an
// operation's timeout: a database that does not answer would otherwise
// hold the stop for as long as the process gives its components.
func (m *MongoDB) Close(ctx context.Context) error {
	if m.client == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	err := m.client.Disconnect(ctx)
	m.client, m.coll = nil, nil
	if err != nil {
		return fmt.Errorf("mongodb disconnect: %w", err)
	}
	return nil
}

// GetPageByFilter returns one page of sessions, newest request_time first,
// without user and data.
func (m *MongoDB) GetPageByFilter(ctx context.Context, filter sessions.Filter, paging sessions.Paging) (*sessions.Page, error) {
	if m.coll == nil {
		return nil, errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	q := mongoFilter(filter)
	opts := options.Find().
		SetSort(bson.D{{Key: "request_time", Value: -1}, {Key: "_id", Value: -1}}).
		SetProjection(bson.D{{Key: "user", Value: 0}, {Key: "data", Value: 0},
			{Key: userTextField, Value: 0}, {Key: dataTextField, Value: 0}})
	if paging.Skip > 0 {
		opts.SetSkip(paging.Skip)
	}
	if paging.Take > 0 {
		opts.SetLimit(paging.Take)
	}
	page := &sessions.Page{Data: []*sessions.Session{}}
	if paging.Total {
		n, err := count(ctx, m.coll, q)
		if err != nil {
			return nil, m.fail("count sessions", err)
		}
		page.Total = &n
	}
	cur, err := m.coll.Find(ctx, q, opts)
	if err != nil {
		return nil, m.fail("find sessions", err)
	}
	defer m.closeCursor(ctx, cur)
	for cur.Next(ctx) {
		var d sessionDoc
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("mongodb decode session: %w", err)
		}
		s, err := d.session()
		if err != nil {
			return nil, err
		}
		page.Data = append(page.Data, s)
	}
	if err := cur.Err(); err != nil {
		return nil, m.fail("find sessions", err)
	}
	return page, nil
}

// GetOneByID returns one session with its user and data, or nil.
func (m *MongoDB) GetOneByID(ctx context.Context, id string) (*sessions.Session, error) {
	if m.coll == nil {
		return nil, errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	return m.one(m.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}), "get session", id)
}

// GetStatesByIDs returns the state of each listed session, nil for one
// that does not exist, with one find by _id projected to the fields of a
// state. A single id is looked up by equality, the one form of _id query
// that MongoDB-compatible servers serve from their primary key too.
func (m *MongoDB) GetStatesByIDs(ctx context.Context, ids []string) ([]*logic.SessionState, error) {
	if m.coll == nil {
		return nil, errNotOpen()
	}
	out := make([]*logic.SessionState, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	var docs []stateDoc
	if len(ids) == 1 {
		var d stateDoc
		err := m.coll.FindOne(ctx, bson.D{{Key: "_id", Value: ids[0]}}, options.FindOne().SetProjection(stateProjection)).Decode(&d)
		switch {
		case err == nil:
			docs = append(docs, d)
		case !errors.Is(err, mongo.ErrNoDocuments):
			return nil, m.fail("get session states", err)
		}
	} else {
		q := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}
		cur, err := m.coll.Find(ctx, q, options.Find().SetProjection(stateProjection))
		if err != nil {
			return nil, m.fail("get session states", err)
		}
		if err := cur.All(ctx, &docs); err != nil {
			return nil, m.fail("get session states", err)
		}
	}
	states := make([]logic.SessionState, len(docs))
	byID := make(map[string]*logic.SessionState, len(docs))
	for i, d := range docs {
		states[i] = logic.SessionState{ID: d.ID, Active: d.Active,
			RequestTime: fromBSONTime(d.RequestTime), ExpireTime: fromBSONTime(d.ExpireTime),
			DeviceID: d.DeviceID, Client: d.Client}
		byID[d.ID] = &states[i]
	}
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, nil
}

// stateDoc is the part of a session document a logic.SessionState holds.
type stateDoc struct {
	ID          string    `bson:"_id"`
	Active      bool      `bson:"active"`
	RequestTime time.Time `bson:"request_time"`
	ExpireTime  time.Time `bson:"expire_time,omitempty"`
	DeviceID    string    `bson:"device_id,omitempty"`
	Client      string    `bson:"client,omitempty"`
}

// stateProjection reads the fields of a stateDoc; _id comes unasked.
var stateProjection = bson.D{{Key: "active", Value: 1}, {Key: "request_time", Value: 1},
	{Key: "expire_time", Value: 1}, {Key: "device_id", Value: 1}, {Key: "client", Value: 1}}

// Create stores a new session and returns it as it was stored.
func (m *MongoDB) Create(ctx context.Context, s *sessions.Session) (*sessions.Session, error) {
	if s == nil || s.ID == "" {
		return nil, sessions.InvalidData(sessions.NullProblem("id"))
	}
	d, err := newSessionDoc(s)
	if err != nil {
		return nil, err
	}
	if m.coll == nil {
		return nil, errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	if _, err := m.coll.InsertOne(ctx, d); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return nil, sessions.Conflict("DUPLICATE_ID", "session %q already exists", s.ID)
		}
		return nil, m.fail(fmt.Sprintf("create session %q", s.ID), err)
	}
	return d.session()
}

// Update applies u to one session with a single findOneAndUpdate and
// returns the session after the change, or nil when there is no such
// session (or, with u.IfActive or u.IfExpired, none the condition holds for).
func (m *MongoDB) Update(ctx context.Context, id string, u sessions.Update) (*sessions.Session, error) {
	change, err := mongoUpdate(u)
	if err != nil {
		return nil, err
	}
	if m.coll == nil {
		return nil, errNotOpen()
	}
	q := bson.D{{Key: "_id", Value: id}}
	if u.IfActive {
		q = append(q, bson.E{Key: "active", Value: true})
	}
	if u.IfExpired != nil {
		q = append(q, expiredQuery(*u.IfExpired)...)
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	if len(change) == 0 {
		// Nothing to change: an empty update document is invalid, so read.
		return m.one(m.coll.FindOne(ctx, q), "update session", id)
	}
	res := m.coll.FindOneAndUpdate(ctx, q, change, options.FindOneAndUpdate().SetReturnDocument(options.After))
	s, err := m.one(res, "update session", id)
	return s, refusedPath(err)
}

// DeleteByID removes a session with a single findOneAndDelete and returns
// it, or nil.
func (m *MongoDB) DeleteByID(ctx context.Context, id string) (*sessions.Session, error) {
	if m.coll == nil {
		return nil, errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	return m.one(m.coll.FindOneAndDelete(ctx, bson.D{{Key: "_id", Value: id}}), "delete session", id)
}

// ExpiredIDs returns the ids of the sessions e finds expired. The sweep
// closes each with a findOneAndUpdate that re-checks e (Update with
// IfExpired), so a session renewed in between stays open.
func (m *MongoDB) ExpiredIDs(ctx context.Context, e sessions.Expiry) ([]string, error) {
	if m.coll == nil {
		return nil, errNotOpen()
	}
	return m.expiredIDs(ctx, expiredQuery(e))
}

// expiredQuery matches the sessions e finds expired, in two branches, each
// served by an index that starts with active.
func expiredQuery(e sessions.Expiry) bson.D {
	return bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "active", Value: true}, {Key: "request_time", Value: bson.D{{Key: "$lt", Value: e.IdleBefore}}}},
		bson.D{{Key: "active", Value: true}, {Key: "expire_time", Value: bson.D{{Key: "$lte", Value: e.Now}}}},
	}}}
}

// expiredIDs returns the ids of the sessions matching q.
func (m *MongoDB) expiredIDs(ctx context.Context, q bson.D) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	cur, err := m.coll.Find(ctx, q, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, m.fail("find expired sessions", err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, m.fail("find expired sessions", err)
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, nil
}

// one decodes the result of a single-document command; no document is (nil, nil).
func (m *MongoDB) one(res *mongo.SingleResult, op, id string) (*sessions.Session, error) {
	var d sessionDoc
	if err := res.Decode(&d); err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil, nil
		}
		return nil, m.fail(fmt.Sprintf("%s %q", op, id), err)
	}
	return d.session()
}

// errNotOpen answers calls made before Open or after Close. It is a new
// value each time because callers may fill in an error's request fields.
func errNotOpen() error {
	return sessions.Unavailable(errors.New("mongodb persistence is not open"))
}

// fail translates a driver error: an unreachable or too slow database
// becomes sessions.Unavailable, anything else is wrapped with op.
func (m *MongoDB) fail(op string, err error) error {
	wrapped := fmt.Errorf("mongodb %s: %w", op, err)
	if unreachable(err) {
		return sessions.Unavailable(wrapped)
	}
	return wrapped
}

// unreachable reports whether err means the database could not be reached
// or did not answer in time, as opposed to refusing the command.
func unreachable(err error) bool {
	if mongo.IsTimeout(err) || mongo.IsNetworkError(err) || errors.Is(err, mongo.ErrClientDisconnected) {
		return true
	}
	var sse mongo.ServerError
	if errors.As(err, &sse) {
		// The server answered, but it may have answered that it cannot
		// serve now: it is shutting down, stepping down, not primary or
		// overloaded.
		for _, code := range unavailableCodes {
			if sse.HasErrorCode(code) {
				return true
			}
		}
		for _, label := range unavailableLabels {
			if sse.HasErrorLabel(label) {
				return true
			}
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// unavailableCodes are the server error codes that mean "not now" rather
// than "no": a node shutting down, stepping down or not primary, or a
// network failure between servers. The drivers retry on the same codes.
var unavailableCodes = []int{
	6,     // HostUnreachable
	7,     // HostNotFound
	89,    // NetworkTimeout
	91,    // ShutdownInProgress
	189,   // PrimarySteppedDown
	9001,  // SocketException
	10107, // NotWritablePrimary
	11600, // InterruptedAtShutdown
	11602, // InterruptedDueToReplStateChange
	13435, // NotPrimaryNoSecondaryOk
	13436, // NotPrimaryOrSecondary
	10058, // LegacyNotPrimary
	133,   // FailedToSatisfyReadPreference: no member to read from
	134,   // ReadConcernMajorityNotAvailableYet
	262,   // ExceededTimeLimit
}

// unavailableLabels are the error labels servers put on errors worth
// trying again: a transient failure, an overloaded server (MongoDB 8).
var unavailableLabels = []string{"RetryableWriteError", "SystemOverloadedError", "RetryableError"}

// count counts the documents q matches. With no filter it asks the
// collection's own count, as a count of every document by a query would
// read them all.
func count(ctx context.Context, coll *mongo.Collection, q bson.D) (int64, error) {
	if len(q) == 0 {
		return coll.EstimatedDocumentCount(ctx)
	}
	return coll.CountDocuments(ctx, q)
}

// closeCursor closes a cursor, also after ctx ended (a cursor still open
// on the server is then killed), bounded as any operation.
func (m *MongoDB) closeCursor(ctx context.Context, cur interface{ Close(context.Context) error }) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opTime)
	defer cancel()
	_ = cur.Close(ctx) // what the caller read is what counts
}

// where names the server for messages, without the password.
func (m *MongoDB) where() string {
	if m.uri != "" {
		return redact(m.uri, m.uri, m.password)
	}
	return strings.Join(m.hosts, ",") + "/" + m.database
}

// redact removes the password from a driver error message.
func (m *MongoDB) redact(err error) string { return redact(err.Error(), m.uri, m.password) }

// redact removes from msg the password of uri and the configured password.
func redact(msg, uri, password string) string {
	if cs, err := connstring.Parse(uri); err == nil && cs.PasswordSet && cs.Password != "" {
		msg = strings.ReplaceAll(msg, cs.Password, "*****")
	} else if i, j := strings.Index(uri, "://"), strings.LastIndex(uri, "@"); i >= 0 && j > i {
		// Unparsable URI: hide the whole user-info part.
		msg = strings.ReplaceAll(msg, uri[i+3:j], "*****")
	}
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "*****")
	}
	return msg
}

// mongoFilter builds the query of a Filter.
func mongoFilter(f sessions.Filter) bson.D {
	q := bson.D{}
	eq := func(key, v string) {
		if v != "" {
			q = append(q, bson.E{Key: key, Value: v})
		}
	}
	eq("_id", f.ID)
	eq("user_id", f.UserID)
	eq("device_id", f.DeviceID)
	eq("parent_id", f.ParentID)
	eq("push_address", f.PushAddress)
	eq("client", f.Client)
	if f.Active != nil {
		switch {
		case f.Now.IsZero():
			// Every lease ends later: the active flag decides, which the
			// index on it answers without reading any session.
			q = append(q, bson.E{Key: "active", Value: *f.Active})
		case *f.Active:
			// Live: active, and no lease or a lease that ends after now.
			q = append(q,
				bson.E{Key: "active", Value: true},
				bson.E{Key: "$or", Value: bson.A{
					bson.D{{Key: "expire_time", Value: nil}},
					bson.D{{Key: "expire_time", Value: bson.D{{Key: "$gt", Value: f.Now}}}},
				}})
		default:
			// Not live: closed, or active with a lapsed lease.
			q = append(q, bson.E{Key: "$or", Value: bson.A{
				bson.D{{Key: "active", Value: false}},
				bson.D{{Key: "active", Value: true}, {Key: "expire_time", Value: bson.D{{Key: "$lte", Value: f.Now}}}},
			}})
		}
	}
	if !f.FromTime.IsZero() || !f.ToTime.IsZero() {
		r := bson.D{}
		if !f.FromTime.IsZero() {
			r = append(r, bson.E{Key: "$gte", Value: f.FromTime})
		}
		if !f.ToTime.IsZero() {
			r = append(r, bson.E{Key: "$lt", Value: f.ToTime})
		}
		q = append(q, bson.E{Key: "request_time", Value: r})
	}
	return q
}

// mongoUpdate builds the update document that does to a stored session
// what u.Apply does to a session in memory.
func mongoUpdate(u sessions.Update) (bson.D, error) {
	set, unset := bson.D{}, bson.D{}
	if u.Close == nil { // closing clears both payloads below
		for _, p := range []struct {
			name, textField string
			raw             []byte
		}{{"user", userTextField, u.User}, {"data", dataTextField, u.Data}} {
			if p.raw == nil {
				continue
			}
			v, err := encodePayload(p.name, p.raw)
			if err != nil {
				return nil, err
			}
			// A document holds at most one form of each payload.
			switch {
			case v.text != "":
				set = append(set, bson.E{Key: p.textField, Value: v.text})
				unset = append(unset, bson.E{Key: p.name, Value: ""})
			case !v.native.IsZero():
				set = append(set, bson.E{Key: p.name, Value: v.native})
				unset = append(unset, bson.E{Key: p.textField, Value: ""})
			default: // JSON null clears the field
				unset = append(unset, bson.E{Key: p.name, Value: ""}, bson.E{Key: p.textField, Value: ""})
			}
		}
	}
	if !u.RequestTime.IsZero() && u.Close == nil { // closing sets it below
		set = append(set, bson.E{Key: "request_time", Value: u.RequestTime})
	}
	if !u.ExpireTime.IsZero() {
		set = append(set, bson.E{Key: "expire_time", Value: u.ExpireTime})
	}
	if u.PushAddress != "" {
		set = append(set, bson.E{Key: "push_address", Value: u.PushAddress})
	}
	for k, v := range u.Details {
		path := "details." + k
		if !plainDetailKey(k) {
			path = escapedDetailsField + "." + escapeDetailKey(k)
		}
		if v == "" {
			unset = append(unset, bson.E{Key: path, Value: ""})
		} else {
			set = append(set, bson.E{Key: path, Value: v})
		}
	}
	if u.Close != nil {
		set = append(set,
			bson.E{Key: "active", Value: false},
			bson.E{Key: "request_time", Value: u.Close.Time},
			bson.E{Key: "close_time", Value: u.Close.Time},
			bson.E{Key: "close_reason", Value: u.Close.Reason})
		unset = append(unset, unsetPayloads...)
	}
	change := bson.D{}
	if len(set) > 0 {
		change = append(change, bson.E{Key: "$set", Value: set})
	}
	if len(unset) > 0 {
		change = append(change, bson.E{Key: "$unset", Value: unset})
	}
	return change, nil
}

// emptyFieldName is the error code of a server that refuses an update path
// with an empty part, or, on FerretDB, one that begins or ends with white
// space. Details keys that would make such parts are escaped, so this is
// a safety net for servers stricter still.
const emptyFieldName = 56

// refusedPath translates the error of an update that the server refused for
// one of its paths, which can only be a details key, into a validation
// error; other errors are returned as they are.
func refusedPath(err error) error {
	var ce mongo.CommandError
	if errors.As(err, &ce) && ce.HasErrorCode(emptyFieldName) {
		return sessions.InvalidData("details keys must be ones the database accepts as field names: " + ce.Message)
	}
	return err
}

// The details are kept in two sub-documents. A key MongoDB can take as a
// field name is kept as itself under details, where a merge can $set and
// $unset "details.<key>", and where every version of the service kept it.
// The other keys (empty, with '.', starting with '$', with NUL or invalid
// UTF-8, starting or ending with white space, which FerretDB refuses in an
// update path) are kept under details_escaped, percent-escaped into names
// that every MongoDB-compatible server takes. Where a key goes depends on
// the key alone, so each key is in one place only.
const escapedDetailsField = "details_escaped"

// plainDetailKey reports whether k is kept as itself under details.
func plainDetailKey(k string) bool {
	if k == "" || k[0] == '$' || strings.ContainsAny(k, ".\x00") || !utf8.ValidString(k) {
		return false
	}
	first, _ := utf8.DecodeRuneInString(k)
	last, _ := utf8.DecodeLastRuneInString(k)
	return !unicode.IsSpace(first) && !unicode.IsSpace(last)
}

// escapeDetailKey returns the name under which details_escaped keeps k:
// "%" for the empty key, and otherwise k with every '%', '.', '$', NUL,
// white space and invalid UTF-8 byte written as %XX.
func escapeDetailKey(k string) string {
	if k == "" {
		return "%"
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(k); {
		r, n := utf8.DecodeRuneInString(k[i:])
		if r == '%' || r == '.' || r == '$' || r == 0 || unicode.IsSpace(r) || r == utf8.RuneError && n == 1 {
			for _, c := range []byte(k[i : i+n]) {
				b.WriteByte('%')
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			}
		} else {
			b.WriteString(k[i : i+n])
		}
		i += n
	}
	return b.String()
}

// unescapeDetailKey undoes escapeDetailKey.
func unescapeDetailKey(name string) (string, error) {
	if name == "%" {
		return "", nil
	}
	return url.PathUnescape(name)
}

// sessionDoc is a session as stored: _id holds the id, times are BSON dates
// (milliseconds), user and data are native BSON values or JSON text (see
// encodePayload), and absent fields are left out. Documents the Node
// service wrote (nulls for absent fields) decode too.
type sessionDoc struct {
	ID          string        `bson:"_id"`
	UserID      string        `bson:"user_id"`
	UserName    string        `bson:"user_name,omitempty"`
	Active      bool          `bson:"active"`
	OpenTime    time.Time     `bson:"open_time"`
	RequestTime time.Time     `bson:"request_time"`
	CloseTime   time.Time     `bson:"close_time,omitempty"`
	Address     string        `bson:"address,omitempty"`
	Client      string        `bson:"client,omitempty"`
	User        bson.RawValue `bson:"user,omitempty"`
	UserText    string        `bson:"user_json,omitempty"`
	Data        bson.RawValue `bson:"data,omitempty"`
	DataText    string        `bson:"data_json,omitempty"`
	DeviceID    string        `bson:"device_id,omitempty"`
	ExpireTime  time.Time     `bson:"expire_time,omitempty"`
	// Details holds the plain keys and EscapedDetails the others, escaped;
	// see escapedDetailsField.
	Details        map[string]string `bson:"details,omitempty"`
	EscapedDetails map[string]string `bson:"details_escaped,omitempty"`
	ParentID       string            `bson:"parent_id,omitempty"`
	PushAddress    string            `bson:"push_address,omitempty"`
	CloseReason    string            `bson:"close_reason,omitempty"`
}

func newSessionDoc(s *sessions.Session) (*sessionDoc, error) {
	user, err := encodePayload("user", s.User)
	if err != nil {
		return nil, err
	}
	data, err := encodePayload("data", s.Data)
	if err != nil {
		return nil, err
	}
	d := &sessionDoc{
		ID: s.ID, UserID: s.UserID, UserName: s.UserName, Active: s.Active,
		OpenTime: toMillis(s.OpenTime), RequestTime: toMillis(s.RequestTime), CloseTime: toMillis(s.CloseTime),
		Address: s.Address, Client: s.Client, User: user.native, UserText: user.text,
		Data: data.native, DataText: data.text, DeviceID: s.DeviceID,
		ExpireTime: toMillis(s.ExpireTime), ParentID: s.ParentID, PushAddress: s.PushAddress,
		CloseReason: s.CloseReason,
	}
	for k, v := range s.Details {
		if plainDetailKey(k) {
			if d.Details == nil {
				d.Details = make(map[string]string, len(s.Details))
			}
			d.Details[k] = v
			continue
		}
		if d.EscapedDetails == nil {
			d.EscapedDetails = make(map[string]string)
		}
		d.EscapedDetails[escapeDetailKey(k)] = v
	}
	return d, nil
}

func (d *sessionDoc) session() (*sessions.Session, error) {
	user, err := decodePayload(d.User, d.UserText)
	if err != nil {
		return nil, fmt.Errorf("mongodb decode user of session %q: %w", d.ID, err)
	}
	data, err := decodePayload(d.Data, d.DataText)
	if err != nil {
		return nil, fmt.Errorf("mongodb decode data of session %q: %w", d.ID, err)
	}
	s := &sessions.Session{
		ID: d.ID, UserID: d.UserID, UserName: d.UserName, Active: d.Active,
		OpenTime: fromBSONTime(d.OpenTime), RequestTime: fromBSONTime(d.RequestTime),
		CloseTime: fromBSONTime(d.CloseTime), Address: d.Address, Client: d.Client,
		User: user, Data: data, DeviceID: d.DeviceID, ExpireTime: fromBSONTime(d.ExpireTime),
		ParentID: d.ParentID, PushAddress: d.PushAddress, CloseReason: d.CloseReason,
	}
	if len(d.Details) > 0 {
		s.Details = d.Details
	}
	if len(d.EscapedDetails) > 0 {
		if s.Details == nil {
			s.Details = make(map[string]string, len(d.EscapedDetails))
		}
		for name, v := range d.EscapedDetails {
			k, err := unescapeDetailKey(name)
			if err != nil {
				return nil, fmt.Errorf("mongodb decode details of session %q: %w", d.ID, err)
			}
			s.Details[k] = v
		}
	}
	return s, nil
}

// toMillis returns t in UTC at the millisecond precision of a BSON date.
func toMillis(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Millisecond)
}

// fromBSONTime returns a stored date in UTC; a missing or null date is zero.
func fromBSONTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}
