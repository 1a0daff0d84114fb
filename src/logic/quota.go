package logic

import (
	"context"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// HomeStore keeps homes. Every persistence implements it beside Persistence.
type HomeStore interface {
	// SetHome creates or replaces a home and returns it.
	SetHome(ctx context.Context, h *sessions.Home) (*sessions.Home, error)
	// SetMaxSessions sets only the max_sessions of a home, creating it
	// with the defaults of everything else when there is none, and returns
	// it: a concurrent SetHome's other fields are kept, whichever comes
	// first.
	SetMaxSessions(ctx context.Context, id string, n int64) (*sessions.Home, error)
	// GetHome returns a home, or (nil, nil).
	GetHome(ctx context.Context, id string) (*sessions.Home, error)
	// DeleteHome removes a home and returns it, or (nil, nil).
	DeleteHome(ctx context.Context, id string) (*sessions.Home, error)
	// GetHomes returns homes ordered by id; filter by id when id is non-empty.
	GetHomes(ctx context.Context, id string, paging sessions.Paging) (*sessions.HomePage, error)
}

// DeviceStore keeps the device-to-account map.
type DeviceStore interface {
	// SetDevice creates or replaces (moves) a device and returns it, and
	// the device it replaced, or nil: read and replaced in one step, so
	// that of two moves at once each learns the account it took the
	// device from.
	SetDevice(ctx context.Context, d *sessions.Device) (stored, replaced *sessions.Device, err error)
	// GetDevice returns a device, or (nil, nil).
	GetDevice(ctx context.Context, id string) (*sessions.Device, error)
	// DeleteDevice removes a device and returns it, or (nil, nil).
	DeleteDevice(ctx context.Context, id string) (*sessions.Device, error)
	// GetDevices returns devices ordered by id; filter by user when userID is non-empty.
	GetDevices(ctx context.Context, userID string, paging sessions.Paging) (*sessions.DevicePage, error)
}

// SlotStore keeps the places of homes' quotas. Its two writes are the only
// primitives the quota relies on, chosen because they are exact on every
// backend under any concurrency, including MongoDB-compatible servers whose
// conditional updates are not atomic:
//   - TakeSlot is an insert against a unique (home_id, index) key: of any
//     number of concurrent takers of one place, exactly one wins;
//   - ReleaseSlot is a delete by the slot's own id: of any number of
//     concurrent releasers, exactly one reports that it deleted it.
type SlotStore interface {
	// TakeSlot stores s; ok is false, with no error, when (s.HomeID, s.Index)
	// is already held.
	TakeSlot(ctx context.Context, s sessions.Slot) (ok bool, err error)
	// ReleaseSlot deletes the slot with that id; ok is true only for the call
	// that deleted it.
	ReleaseSlot(ctx context.Context, id string) (ok bool, err error)
	// GetSlots returns every slot of a home.
	GetSlots(ctx context.Context, homeID string) ([]sessions.Slot, error)
	// GetSessionSlots returns the slots a session holds.
	GetSessionSlots(ctx context.Context, sessionID string) ([]sessions.Slot, error)
}
