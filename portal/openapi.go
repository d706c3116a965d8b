package portal

import (
	"encoding/json"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// The OpenAPI 3.1 document of /api/v1 is made from the routes' own declarations: every
// resource route is registered with Portal.api, which records its apiDoc next to the
// handler, and the request and response schemas are read from the Go types the
// handlers decode and encode. TestOpenAPIMatchesRouter walks fiber's router and fails
// on an /api/v1 route missing from the document, or a documented one with no route.

// apiDoc describes one route.
type apiDoc struct {
	Summary string
	// Params are the query parameters (path parameters come from the path; list one
	// here to give it a type or a description).
	Params []apiParam
	// Body and Resp are values of the request and response types (nil: none).
	Body, Resp any
	// Status is the success status (default 200).
	Status int
	// access decides the security the document names.
	access access
}

// apiParam is a query or path parameter.
type apiParam struct {
	Name, In, Type, Desc string
}

// apiRoute is a documented route.
type apiRoute struct {
	method, path string
	doc          apiDoc
}

// registerOpenAPI documents the sign-in routes (registered in New through handle,
// cookie sessions only) and serves the document.
func (p *Portal) registerOpenAPI() {
	cookie := func(method, path, summary string, a access, body, resp any) {
		p.docs = append(p.docs, apiRoute{method: method, path: path, doc: apiDoc{Summary: summary, Body: body, Resp: resp, access: a}})
	}
	cookie("GET", "/api/v1/csrf", "The CSRF token a cookie session's unsafe requests carry in X-CSRF-Token (before sign-in: the double-submit cookie's).", accessPublic, nil, csrfJSON{})
	cookie("POST", "/api/v1/login", "Sign in with email (staff) or username or email (a subscriber) and password; starts a cookie session.", accessPublic, credentials{}, loginJSON{})
	cookie("POST", "/api/v1/login/totp", "The second sign-in step: a TOTP code.", accessPending, totpCode{}, loginJSON{})
	cookie("POST", "/api/v1/logout", "End the cookie session.", accessSession, nil, statusJSON{})
	cookie("GET", "/api/v1/me", "The signed-in portal user.", accessEnroll, nil, me{})
	p.handle("GET", "/api/v1/openapi.json", accessPublic, p.openAPI)
	p.docs = append(p.docs, apiRoute{method: "GET", path: "/api/v1/openapi.json", doc: apiDoc{Summary: "This document.", Resp: map[string]any{}, access: accessPublic}})
}

// Bodies of the sign-in routes, for the document.
type (
	csrfJSON struct {
		CSRF string `json:"csrf"`
	}
	loginJSON struct {
		Status string `json:"status" doc:"ok, totp_required or enroll_required"`
		CSRF   string `json:"csrf"`
	}
	statusJSON struct {
		Status string `json:"status"`
	}
)

// openAPI serves the document, built once from p.docs.
func (p *Portal) openAPI(c *fiber.Ctx) error {
	b, err := p.openAPIJSON()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(b)
}

// openAPIJSON returns the document as JSON.
func (p *Portal) openAPIJSON() ([]byte, error) {
	p.openapiOnce.Do(func() { p.openapiJSON, p.openapiErr = json.Marshal(p.openAPIDocument()) })
	return p.openapiJSON, p.openapiErr
}

var paramRE = regexp.MustCompile(`:([A-Za-z_][A-Za-z0-9_]*)`)

// openAPIPath turns fiber's "/a/:id" into OpenAPI's "/a/{id}".
func openAPIPath(path string) string { return paramRE.ReplaceAllString(path, "{$1}") }

// openAPIDocument builds the document.
func (p *Portal) openAPIDocument() map[string]any {
	s := &schemas{defs: map[string]any{}}
	errRef := s.of(reflect.TypeOf(apiError{}))
	paths := map[string]any{}
	docs := append([]apiRoute(nil), p.docs...)
	sort.SliceStable(docs, func(i, j int) bool { return docs[i].path < docs[j].path })
	for _, r := range docs {
		d := r.doc
		op := map[string]any{"summary": d.Summary, "operationId": operationID(r.method, r.path)}
		var params []any
		declared := map[string]apiParam{}
		for _, pr := range d.Params {
			declared[pr.Name] = pr
		}
		for _, m := range paramRE.FindAllStringSubmatch(r.path, -1) {
			pr := declared[m[1]]
			params = append(params, param(m[1], "path", pr.Type, pr.Desc, true))
		}
		for _, pr := range d.Params {
			if pr.In == "query" || pr.In == "header" {
				params = append(params, param(pr.Name, pr.In, pr.Type, pr.Desc, false))
			}
		}
		if params != nil {
			op["parameters"] = params
		}
		if d.Body != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": s.of(reflect.TypeOf(d.Body))}}}
		}
		status := d.Status
		if status == 0 {
			status = 200
		}
		ok := map[string]any{"description": "OK"}
		if d.Resp != nil {
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": s.of(reflect.TypeOf(d.Resp))}}
		}
		errResp := func(desc string) map[string]any {
			return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": errRef}}}
		}
		resps := map[string]any{strconv.Itoa(status): ok, "default": errResp("An error: code, message and the field it is about")}
		switch d.access {
		case accessAPIRead, accessAPIWrite:
			op["security"] = []any{map[string]any{"bearer": []any{}}, map[string]any{"cookie": []any{}}}
			resps["401"] = errResp("No token, or a bad, expired or revoked one")
			resps["403"] = errResp("A read token on a route that writes, or a session that is not an admin's")
			resps["429"] = errResp("The token's rate limit; see Retry-After")
		case accessPublic:
			op["security"] = []any{}
		default:
			op["security"] = []any{map[string]any{"cookie": []any{}}}
		}
		op["responses"] = resps
		path := openAPIPath(r.path)
		item, _ := paths[path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[path] = item
		}
		item[strings.ToLower(r.method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "tollgate API",
			"version": "1",
			"description": "Plans, subscribers, NAS, sessions, vouchers, wallets and invoices. Authenticate with `Authorization: Bearer <token>` " +
				"(tollgate token add) or an admin's session cookie (unsafe requests then carry X-CSRF-Token). Lists take " +
				"?limit= (1-1000, default 100) and ?cursor= and answer {data, next_cursor}; errors are {code, message, field}.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": s.defs,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "An API token: tg_<lookup>_<secret>"},
				"cookie": map[string]any{"type": "apiKey", "in": "cookie", "name": sessionCookie},
			},
		},
	}
}

func param(name, in, typ, desc string, required bool) map[string]any {
	if typ == "" {
		typ = "string"
	}
	m := map[string]any{"name": name, "in": in, "required": required, "schema": map[string]any{"type": typ}}
	if desc != "" {
		m["description"] = desc
	}
	return m
}

// operationID names an operation from its method and path: "get_api_v1_plans_id".
func operationID(method, path string) string {
	id := strings.ToLower(method) + strings.NewReplacer("/", "_", ":", "", ".", "_").Replace(path)
	return id
}

// schemas turns Go types into JSON Schemas, named structs into components.
type schemas struct {
	defs map[string]any
}

var timeType = reflect.TypeOf(time.Time{})

var nonWord = regexp.MustCompile(`[^A-Za-z0-9]+`)

func (s *schemas) of(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.Pointer:
		return map[string]any{"anyOf": []any{s.of(t.Elem()), map[string]any{"type": "null"}}}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": s.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object"}
	case reflect.Struct:
		name := nonWord.ReplaceAllString(t.Name(), "_")
		name = strings.Trim(strings.ReplaceAll(name, "tollgate_portal_", ""), "_")
		ref := map[string]any{"$ref": "#/components/schemas/" + name}
		if _, ok := s.defs[name]; ok {
			return ref
		}
		s.defs[name] = map[string]any{} // a placeholder against recursion
		props := map[string]any{}
		var required []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || !f.IsExported() {
				continue
			}
			jname, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && jname == "" {
				// An embedded struct's fields are the outer's.
				sub := s.of(f.Type)
				if def, ok := s.defs[strings.TrimPrefix(sub["$ref"].(string), "#/components/schemas/")].(map[string]any); ok {
					for k, v := range def["properties"].(map[string]any) {
						props[k] = v
					}
					if r, ok := def["required"].([]string); ok {
						required = append(required, r...)
					}
				}
				continue
			}
			if jname == "" {
				jname = f.Name
			}
			prop := s.of(f.Type)
			if d := f.Tag.Get("doc"); d != "" {
				prop = map[string]any{"allOf": []any{prop}, "description": d}
			}
			props[jname] = prop
			if !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer {
				required = append(required, jname)
			}
		}
		sort.Strings(required)
		def := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			def["required"] = required
		}
		s.defs[name] = def
		return ref
	}
	return map[string]any{}
}
