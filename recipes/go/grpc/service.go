package main

// The service, written by hand (no protoc): one unary method whose messages
// are JSON, carried by a codec registered as content-subtype "json", so a
// call is `content-type: application/grpc+json` on HTTP/2 with gRPC's 5-byte
// message frame (any gRPC client can make it; test/helpers/grpc-call.ts does
// it with node:http2 alone).

import (
	"context"
	"encoding/json"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
)

const (
	serviceName  = "mtls.reference.Mesh"
	whoamiMethod = "/" + serviceName + "/Whoami"
)

// whoamiReply: who answered, who called (the SAN URI that was allowed), and
// whether that caller came over verified mutual TLS.
type whoamiReply struct {
	Server string `json:"server"`
	Peer   string `json:"peer"`
	TLS    bool   `json:"tls"`
}

type jsonCodec struct{}

func (jsonCodec) Name() string                  { return "json" }
func (jsonCodec) Marshal(v any) ([]byte, error) { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error {
	if len(data) == 0 { // an empty message is {}
		return nil
	}
	return json.Unmarshal(data, v)
}

func init() { encoding.RegisterCodec(jsonCodec{}) }

// whoamiService is what protoc-gen-go-grpc would generate for
// `service Mesh { rpc Whoami(Empty) returns (Reply); }`.
var whoamiService = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Whoami",
		Handler: func(srv any, ctx context.Context, dec func(any) error, intercept grpc.UnaryServerInterceptor) (any, error) {
			in := map[string]any{}
			if err := dec(&in); err != nil {
				return nil, err
			}
			answer := func(ctx context.Context, _ any) (any, error) { return srv.(*server).whoami(ctx), nil }
			if intercept == nil {
				return answer(ctx, in)
			}
			return intercept(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: whoamiMethod}, answer)
		},
	}},
	Metadata: "hand-written: recipes/go/grpc/service.go",
}
