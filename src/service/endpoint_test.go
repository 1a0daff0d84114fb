package service_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/service"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

func TestAPanickingHandlerAnswers500WithTheErrorBody(t *testing.T) {
	e := service.NewEndpoint()
	e.Router().Post("/boom", func(http.ResponseWriter, *http.Request) { panic("broken invariant") })

	w := httptest.NewRecorder()
	e.Router().ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/boom?correlation_id=c-7", strings.NewReader("{}")))

	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d; want 500", w.Code)
	}
	var body sessions.ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if body.Code != sessions.CodeInternal || body.Status != 500 || body.CorrelationID != "c-7" {
		t.Errorf("body %+v; want code %s, status 500, correlation_id c-7", body, sessions.CodeInternal)
	}
	if strings.Contains(w.Body.String(), "broken invariant") {
		t.Errorf("body %s shows the panic; want it in the log only", w.Body)
	}
}

func TestAnAbortedHandlerStillAborts(t *testing.T) {
	e := service.NewEndpoint()
	e.Router().Get("/abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v; want http.ErrAbortHandler passed on to the server", v)
		}
	}()
	e.Router().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/abort", nil))
}
