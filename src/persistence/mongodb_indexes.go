package persistence

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"
)

// indexBuildTimeout bounds the building of the indexes a collection lacks
// at start-up. The server aborts a build when the deadline of its command
// passes, and on a collection of millions of sessions (a Node service's,
// say) a build takes minutes: a start with a shorter bound would fail, and
// every start after it the same way.
const indexBuildTimeout = 30 * time.Minute

// mongoIndex is an index a collection needs.
type mongoIndex struct {
	keys   bson.D
	unique bool
}

// mongoIndexes returns the indexes of the sessions collection; see the
// MongoDB doc comment.
func mongoIndexes() []mongoIndex {
	var out []mongoIndex
	for _, keys := range []bson.D{
		{{Key: "user_id", Value: 1}, {Key: "request_time", Value: -1}, {Key: "_id", Value: -1}},
		{{Key: "device_id", Value: 1}, {Key: "request_time", Value: -1}, {Key: "_id", Value: -1}},
		{{Key: "parent_id", Value: 1}, {Key: "request_time", Value: -1}, {Key: "_id", Value: -1}},
		{{Key: "push_address", Value: 1}, {Key: "request_time", Value: -1}, {Key: "_id", Value: -1}},
		{{Key: "client", Value: 1}, {Key: "request_time", Value: -1}, {Key: "_id", Value: -1}},
		{{Key: "active", Value: 1}, {Key: "request_time", Value: -1}, {Key: "_id", Value: -1}},
		{{Key: "active", Value: 1}, {Key: "expire_time", Value: 1}},
		{{Key: "request_time", Value: -1}, {Key: "_id", Value: -1}},
	} {
		out = append(out, mongoIndex{keys: keys})
	}
	return out
}

// indexInfo is what listIndexes tells of an index.
type indexInfo struct {
	Name      string   `bson:"name"`
	Key       bson.D   `bson:"key"`
	Unique    bool     `bson:"unique"`
	Sparse    bool     `bson:"sparse"`
	Partial   bson.Raw `bson:"partialFilterExpression"`
	Collation bson.Raw `bson:"collation"`
}

// restricted reports whether the index leaves documents or comparisons out,
// so that a query of the service may not be able to use it.
func (ix indexInfo) restricted() bool {
	return ix.Sparse || len(ix.Partial) > 0 || len(ix.Collation) > 0
}

// in returns the index of have on ix's keys: of several (they may differ
// in filter or collation), one that serves as ix would.
func (ix mongoIndex) in(have []indexInfo) (indexInfo, bool) {
	var found []indexInfo
	for _, h := range have {
		if sameKeys(h.Key, ix.keys) {
			found = append(found, h)
		}
	}
	if i := slices.IndexFunc(found, ix.servedBy); i >= 0 {
		return found[i], true
	}
	if len(found) > 0 {
		return found[0], true
	}
	return indexInfo{}, false
}

// servedBy reports whether h, an index on ix's keys, serves every query as
// ix would.
func (ix mongoIndex) servedBy(h indexInfo) bool {
	return !h.restricted() && (h.Unique || !ix.unique)
}

// indexAttempts is how many times a start builds the indexes it lacks
// before it fails, when a build fails as a concurrent one can make it fail.
// Instances starting together on a fresh database build the same indexes
// at once, and a server may fail all but one of them (FerretDB drops the
// connection; MongoDB may report a conflict on creating the collection);
// the next look finds them built.
const indexAttempts = 5

// ensureIndexes creates the indexes of coll it lacks, in one command. An
// existing index with the same keys is the one wanted, whatever its name.
// One that is sparse, partial or collated is kept with a warning, as a
// previous deployment may have made it on purpose, unless the index must
// be unique: the quota rests on those, so such a start fails. A build that
// fails as a concurrent one can make it fail is looked at again after a
// short random pause, up to indexAttempts times in all; any other failure
// (a refusal, duplicate keys, the build's time running out) ends the start
// at once.
func (m *MongoDB) ensureIndexes(ctx context.Context, coll *mongo.Collection, want []mongoIndex) error {
	for attempt := 1; ; attempt++ {
		missing, err := m.missingIndexes(ctx, coll, want)
		if err != nil || len(missing) == 0 {
			return err
		}
		m.log.Info("building indexes", zap.String("collection", coll.Name()), zap.Int("indexes", len(missing)))
		err = createIndexes(ctx, coll, missing)
		if err == nil {
			return nil
		}
		if attempt == indexAttempts || ctx.Err() != nil || !concurrentBuildError(err) {
			return fmt.Errorf("mongodb create indexes on %s.%s: %s", m.database, coll.Name(), m.redact(err))
		}
		m.log.Info("building indexes failed, as another instance's build can make it fail; looking again",
			zap.String("collection", coll.Name()), zap.String("error", m.redact(err)))
		pause := time.NewTimer(rand.N(time.Duration(attempt) * 200 * time.Millisecond))
		select {
		case <-ctx.Done():
			pause.Stop()
			return fmt.Errorf("mongodb create indexes on %s.%s: %w", m.database, coll.Name(), ctx.Err())
		case <-pause.C:
		}
	}
}

// concurrentBuildError reports whether an index build failed as a
// concurrent build of the same indexes can make it fail: a dropped
// connection, or a conflict on the collection's creation (NamespaceExists,
// WriteConflict).
func concurrentBuildError(err error) bool {
	if mongo.IsTimeout(err) {
		return false
	}
	if mongo.IsNetworkError(err) {
		return true
	}
	se, ok := errors.AsType[mongo.ServerError](err)
	return ok && (se.HasErrorCode(48) || se.HasErrorCode(112))
}

// missingIndexes returns the models of the indexes in want that coll
// lacks; see ensureIndexes.
func (m *MongoDB) missingIndexes(ctx context.Context, coll *mongo.Collection, want []mongoIndex) ([]mongo.IndexModel, error) {
	have, err := m.listIndexes(ctx, coll)
	if err != nil {
		return nil, err
	}
	var missing []mongo.IndexModel
	for _, ix := range want {
		got, ok := ix.in(have)
		switch {
		case !ok:
			model := mongo.IndexModel{Keys: ix.keys}
			if ix.unique {
				model.Options = options.Index().SetUnique(true)
			}
			missing = append(missing, model)
		case !ix.servedBy(got) && ix.unique:
			return nil, fmt.Errorf("mongodb index %s %v on %s.%s is not a plain unique index, which the quota needs: drop it and start again",
				got.Name, ix.keys, m.database, coll.Name())
		case !ix.servedBy(got):
			m.log.Warn("index exists sparse, partial or collated; keeping it, though queries may not use it",
				zap.String("collection", coll.Name()), zap.String("index", got.Name))
		}
	}
	return missing, nil
}

// createIndexes builds the indexes of missing on coll, in one command, and
// returns the driver's error as it is.
func createIndexes(ctx context.Context, coll *mongo.Collection, missing []mongo.IndexModel) error {
	ctx, cancel := context.WithTimeout(ctx, indexBuildTimeout)
	defer cancel()
	_, err := coll.Indexes().CreateMany(ctx, missing)
	return err
}

// listIndexes returns the indexes of coll; none when it does not exist yet.
func (m *MongoDB) listIndexes(ctx context.Context, coll *mongo.Collection) ([]indexInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, m.connectTime)
	defer cancel()
	cur, err := coll.Indexes().List(ctx)
	var have []indexInfo
	if err == nil {
		err = cur.All(ctx, &have)
	}
	if err != nil {
		return nil, fmt.Errorf("mongodb list the indexes of %s.%s: %s", m.database, coll.Name(), m.redact(err))
	}
	return have, nil
}

// sameKeys reports whether two index key documents name the same fields in
// the same order and directions; a server may write 1 as an int32, an
// int64 or a double.
func sameKeys(a, b bson.D) bool {
	return slices.EqualFunc(a, b, func(x, y bson.E) bool {
		dx, okx := direction(x.Value)
		dy, oky := direction(y.Value)
		return x.Key == y.Key && okx && oky && dx == dy
	})
}

func direction(v any) (float64, bool) {
	switch n := v.(type) {
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case int:
		return float64(n), true
	}
	return 0, false
}
