/// The OpenAPI 3.1 description of every route, served at `GET /openapi.json`.
///
/// `OpenAPITests` keeps it equal to the router's routes (a route added without a description here, or described
/// but gone, fails the suite), and `scripts/fuzz-api.sh` runs schemathesis against a live service from it.
enum OpenAPIDocument {
    static let json = #"""
{
 "openapi": "3.1.0",
 "info": {
  "title": "usero",
  "version": "1.0.0",
  "description": "Self-hostable feedback service: the public feedback API, the admin API, Slack's endpoints, the inbox pages and operations. Errors are `{\"error\": …}`, plus `issues` on validation errors. Served at /openapi.json; a test keeps it equal to the router's routes."
 },
 "tags": [
  {
   "name": "public"
  },
  {
   "name": "admin"
  },
  {
   "name": "slack"
  },
  {
   "name": "inbox"
  },
  {
   "name": "widget"
  },
  {
   "name": "operations"
  }
 ],
 "security": [],
 "paths": {
  "/api/feedback": {
   "post": {
    "summary": "Submit feedback",
    "tags": [
     "public"
    ],
    "security": [],
    "parameters": [
     {
      "name": "X-Usero-Widget",
      "in": "header",
      "schema": {
       "type": "string"
      },
      "description": "present: stored with source `widget`"
     },
     {
      "name": "Idempotency-Key",
      "in": "header",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      },
      "description": "the client's name for this submission (a UUID): sent again with the same body, it is answered with the item stored the first time and stores nothing; with another body, 422"
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/FeedbackSubmission"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "stored durably",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Submitted"
        }
       }
      },
      "headers": {
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AllowAnyOrigin"
       }
      }
     },
     "400": {
      "description": "invalid body (`issues` names each bad field), or an `Idempotency-Key` that is not 1 to 255 visible ASCII characters",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      },
      "headers": {
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AllowAnyOrigin"
       }
      }
     },
     "403": {
      "$ref": "#/components/responses/DomainNotAllowed"
     },
     "404": {
      "$ref": "#/components/responses/InvalidClientID"
     },
     "413": {
      "description": "body over the limit",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      },
      "headers": {
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AllowAnyOrigin"
       }
      }
     },
     "415": {
      "$ref": "#/components/responses/CompressedBodyPublic"
     },
     "422": {
      "description": "`Idempotency-Key` already used for a different submission",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      },
      "headers": {
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AllowAnyOrigin"
       }
      }
     },
     "429": {
      "$ref": "#/components/responses/TooManyRequests"
     },
     "500": {
      "description": "`Internal server error`: something broke on the service's side; safe to retry (with the same `Idempotency-Key`, a retry never stores the item twice)",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      },
      "headers": {
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AllowAnyOrigin"
       }
      }
     },
     "503": {
      "description": "`Storage is nearly full` (USERO_MIN_FREE_DISK_MB); or `Storage is unavailable, try again shortly`: the database did not answer (PostgreSQL down or out of reach); nothing was written",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      },
      "headers": {
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AllowAnyOrigin"
       },
       "Retry-After": {
        "$ref": "#/components/headers/RetryAfter"
       }
      }
     }
    }
   },
   "options": {
    "summary": "CORS preflight",
    "tags": [
     "public"
    ],
    "security": [],
    "responses": {
     "204": {
      "$ref": "#/components/responses/Preflight"
     }
    }
   },
   "get": {
    "summary": "List feedback, newest first",
    "tags": [
     "admin"
    ],
    "security": [
     {
      "adminKey": []
     }
    ],
    "parameters": [
     {
      "name": "source",
      "in": "query",
      "schema": {
       "type": "string",
       "enum": [
        "api",
        "widget",
        "slack"
       ]
      }
     },
     {
      "name": "environment",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "empty: the default environment"
     },
     {
      "name": "q",
      "in": "query",
      "schema": {
       "type": "string",
       "maxLength": 200
      },
      "description": "only items whose comment or end user's email contains this text (ASCII letters in any case, and on PostgreSQL other letters as the database's locale folds them; % and _ are themselves); its ends are trimmed, and empty is no search; at most 200 characters and 1,000 bytes"
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 200,
       "default": 50
      }
     },
     {
      "name": "cursor",
      "in": "query",
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "—",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ItemList"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/AdminKeyRefused"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   }
  },
  "/api/feedback/{id}": {
   "parameters": [
    {
     "name": "id",
     "in": "path",
     "required": true,
     "schema": {
      "type": "string"
     }
    }
   ],
   "get": {
    "summary": "One feedback item",
    "tags": [
     "admin"
    ],
    "security": [
     {
      "adminKey": []
     }
    ],
    "responses": {
     "200": {
      "description": "—",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/FeedbackItem"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/AdminKeyRefused"
     },
     "404": {
      "$ref": "#/components/responses/PageNotFound"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   },
   "delete": {
    "summary": "Delete an item and its screenshots",
    "tags": [
     "admin"
    ],
    "security": [
     {
      "adminKey": []
     }
    ],
    "responses": {
     "204": {
      "description": "deleted"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/AdminKeyRefused"
     },
     "404": {
      "$ref": "#/components/responses/PageNotFound"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   }
  },
  "/api/screenshots": {
   "post": {
    "summary": "Upload a screenshot",
    "tags": [
     "public"
    ],
    "security": [],
    "requestBody": {
     "required": true,
     "content": {
      "multipart/form-data": {
       "schema": {
        "type": "object",
        "required": [
         "screenshot",
         "clientId"
        ],
        "properties": {
         "screenshot": {
          "type": "string",
          "description": "PNG, JPEG, GIF, WebP, BMP, TIFF, AVIF or HEIC/HEIF (not SVG), at most 10 MB, checked by content; declared `image/*`, `application/octet-stream` or with no type"
         },
         "clientId": {
          "type": "string"
         }
        }
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "—",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Uploaded"
        }
       }
      },
      "headers": {
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AllowAnyOrigin"
       }
      }
     },
     "400": {
      "description": "invalid body; `issues` names each bad field",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      },
      "headers": {
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AllowAnyOrigin"
       }
      }
     },
     "403": {
      "$ref": "#/components/responses/DomainNotAllowed"
     },
     "404": {
      "$ref": "#/components/responses/InvalidClientID"
     },
     "413": {
      "description": "body over the limit (`File too large (max 10MB)`), or `Upload quota exceeded: …` (USERO_UPLOAD_QUOTA_MB)",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      },
      "headers": {
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AllowAnyOrigin"
       }
      }
     },
     "415": {
      "$ref": "#/components/responses/CompressedBodyPublic"
     },
     "429": {
      "$ref": "#/components/responses/TooManyRequests"
     },
     "500": {
      "description": "`Failed to upload screenshot`: something broke on the service's side (the file could not be stored); nothing was kept, safe to retry",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      },
      "headers": {
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AllowAnyOrigin"
       }
      }
     },
     "503": {
      "description": "`Storage is nearly full` (USERO_MIN_FREE_DISK_MB), or `Too many uploads in progress` (USERO_MAX_CONCURRENT_UPLOADS); or `Storage is unavailable, try again shortly`: the database did not answer (PostgreSQL down or out of reach), or on PostgreSQL another upload of the client held the quota check for 10 s; nothing was written",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      },
      "headers": {
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AllowAnyOrigin"
       },
       "Retry-After": {
        "$ref": "#/components/headers/RetryAfter"
       }
      }
     }
    }
   },
   "options": {
    "summary": "CORS preflight",
    "tags": [
     "public"
    ],
    "security": [],
    "responses": {
     "204": {
      "$ref": "#/components/responses/Preflight"
     }
    }
   }
  },
  "/api/screenshots/{clientId}/{file}": {
   "parameters": [
    {
     "name": "clientId",
     "in": "path",
     "required": true,
     "schema": {
      "type": "string"
     }
    },
    {
     "name": "file",
     "in": "path",
     "required": true,
     "schema": {
      "type": "string"
     }
    }
   ],
   "get": {
    "summary": "A stored screenshot",
    "tags": [
     "public"
    ],
    "security": [],
    "responses": {
     "200": {
      "description": "the image, with its content type",
      "content": {
       "image/*": {
        "schema": {
         "type": "string",
         "contentMediaType": "image/*"
        }
       }
      }
     },
     "404": {
      "description": "no such screenshot",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      },
      "headers": {
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AllowAnyOrigin"
       }
      }
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   }
  },
  "/api/identify": {
   "post": {
    "summary": "Create or update an end user",
    "tags": [
     "public"
    ],
    "security": [],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Identification"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "—",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Success"
        }
       }
      },
      "headers": {
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AllowAnyOrigin"
       }
      }
     },
     "400": {
      "description": "invalid body; `issues` names each bad field",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      },
      "headers": {
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AllowAnyOrigin"
       }
      }
     },
     "403": {
      "$ref": "#/components/responses/DomainNotAllowed"
     },
     "404": {
      "$ref": "#/components/responses/InvalidClientID"
     },
     "413": {
      "description": "body over the limit",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      },
      "headers": {
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AllowAnyOrigin"
       }
      }
     },
     "415": {
      "$ref": "#/components/responses/CompressedBodyPublic"
     },
     "429": {
      "$ref": "#/components/responses/TooManyRequests"
     },
     "503": {
      "description": "`Storage is nearly full` (USERO_MIN_FREE_DISK_MB); or `Storage is unavailable, try again shortly`: the database did not answer (PostgreSQL down or out of reach); nothing was written",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      },
      "headers": {
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AllowAnyOrigin"
       },
       "Retry-After": {
        "$ref": "#/components/headers/RetryAfter"
       }
      }
     }
    }
   },
   "options": {
    "summary": "CORS preflight",
    "tags": [
     "public"
    ],
    "security": [],
    "responses": {
     "204": {
      "$ref": "#/components/responses/Preflight"
     }
    }
   }
  },
  "/api/end-users/{userId}": {
   "parameters": [
    {
     "name": "userId",
     "in": "path",
     "required": true,
     "schema": {
      "type": "string"
     }
    }
   ],
   "get": {
    "summary": "An identified end user",
    "tags": [
     "admin"
    ],
    "security": [
     {
      "adminKey": []
     }
    ],
    "responses": {
     "200": {
      "description": "—",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/EndUser"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/AdminKeyRefused"
     },
     "404": {
      "$ref": "#/components/responses/PageNotFound"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   }
  },
  "/api/privacy/export": {
   "get": {
    "summary": "Everything held about one person",
    "tags": [
     "admin"
    ],
    "security": [
     {
      "adminKey": []
     }
    ],
    "description": "Exactly one of the three keys.",
    "parameters": [
     {
      "name": "email",
      "in": "query",
      "schema": {
       "type": "string"
      }
     },
     {
      "name": "userId",
      "in": "query",
      "schema": {
       "type": "string"
      }
     },
     {
      "name": "slackUserId",
      "in": "query",
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "the export document",
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/AdminKeyRefused"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   }
  },
  "/api/privacy/erase": {
   "post": {
    "summary": "Delete what is held about one person",
    "tags": [
     "admin"
    ],
    "security": [
     {
      "adminKey": []
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/DataSubject"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "—",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Erased"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/AdminKeyRefused"
     },
     "413": {
      "$ref": "#/components/responses/BodyOver1MB"
     },
     "415": {
      "$ref": "#/components/responses/CompressedBody"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   }
  },
  "/api/account": {
   "delete": {
    "summary": "Close the account: delete the client and everything it owns",
    "tags": [
     "admin"
    ],
    "security": [
     {
      "adminKey": []
     }
    ],
    "responses": {
     "204": {
      "description": "closed"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/AdminKeyRefused"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   }
  },
  "/api/audit": {
   "get": {
    "summary": "The client's audit entries (deletions, and Slack recovery sweeps), newest first, a page at a time",
    "tags": [
     "admin"
    ],
    "security": [
     {
      "adminKey": []
     }
    ],
    "parameters": [
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 1000,
       "default": 1000
      }
     },
     {
      "name": "cursor",
      "in": "query",
      "schema": {
       "type": "string"
      },
      "description": "the nextCursor of the page before"
     }
    ],
    "responses": {
     "200": {
      "description": "—",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/AuditList"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/AdminKeyRefused"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   }
  },
  "/api/slack/install-link": {
   "post": {
    "summary": "A one-time Slack install link (valid 10 minutes)",
    "tags": [
     "admin"
    ],
    "security": [
     {
      "adminKey": []
     }
    ],
    "responses": {
     "200": {
      "description": "—",
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "required": [
          "url"
         ],
         "properties": {
          "url": {
           "type": "string"
          }
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/AdminKeyRefused"
     },
     "503": {
      "description": "not configured; or `Storage is unavailable, try again shortly`: the database did not answer (PostgreSQL down or out of reach); nothing was written",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     }
    }
   }
  },
  "/api/slack/installation": {
   "get": {
    "summary": "The Slack installation (never its token)",
    "tags": [
     "admin"
    ],
    "security": [
     {
      "adminKey": []
     }
    ],
    "responses": {
     "200": {
      "description": "—",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Installation"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/AdminKeyRefused"
     },
     "404": {
      "$ref": "#/components/responses/PageNotFound"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   }
  },
  "/api/slack/settings": {
   "get": {
    "summary": "The workspace's Slack settings: trigger emoji and the channel new feedback is posted to",
    "tags": [
     "admin"
    ],
    "security": [
     {
      "adminKey": []
     }
    ],
    "responses": {
     "200": {
      "description": "—",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/SlackSettings"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/AdminKeyRefused"
     },
     "404": {
      "$ref": "#/components/responses/NotInstalled"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   },
   "put": {
    "summary": "Change the workspace's Slack settings (either field); validation errors name the field",
    "tags": [
     "admin"
    ],
    "security": [
     {
      "adminKey": []
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "type": "object",
        "additionalProperties": false,
        "properties": {
         "triggerEmoji": {
          "$ref": "#/components/schemas/TriggerEmoji"
         },
         "notifyChannel": {
          "type": [
           "string",
           "null"
          ],
          "pattern": "^[CGD][A-Z0-9]{2,31}$"
         }
        }
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "the settings after the change",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/SlackSettings"
        }
       }
      }
     },
     "400": {
      "description": "invalid JSON or a bad or unknown field (named in issues)",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/AdminKeyRefused"
     },
     "404": {
      "$ref": "#/components/responses/NotInstalled"
     },
     "413": {
      "description": "body too large",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "415": {
      "$ref": "#/components/responses/CompressedBody"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   }
  },
  "/api/slack/recover": {
   "post": {
    "summary": "Recover reactions the service missed: sweep the bot's channels from since (at most 7 days back; default: the last event seen)",
    "tags": [
     "admin"
    ],
    "security": [
     {
      "adminKey": []
     }
    ],
    "parameters": [
     {
      "name": "since",
      "in": "query",
      "schema": {
       "type": "string",
       "format": "date-time"
      },
      "description": "ISO 8601 instant; not in the future"
     }
    ],
    "responses": {
     "202": {
      "description": "queued",
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "required": [
          "queued"
         ],
         "properties": {
          "queued": {
           "type": "boolean",
           "const": true
          }
         }
        }
       }
      }
     },
     "400": {
      "description": "since is not an ISO 8601 instant, or in the future",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/AdminKeyRefused"
     },
     "404": {
      "$ref": "#/components/responses/NotInstalled"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   }
  },
  "/slack/events": {
   "post": {
    "summary": "Events API: url_verification, event_callback, app_rate_limited",
    "tags": [
     "slack"
    ],
    "security": [],
    "parameters": [
     {
      "name": "X-Slack-Request-Timestamp",
      "in": "header",
      "schema": {
       "type": "string"
      }
     },
     {
      "name": "X-Slack-Signature",
      "in": "header",
      "schema": {
       "type": "string"
      }
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "type": "object"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "acknowledged; `{\"challenge\"}` for url_verification",
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/NotASlackPayload"
     },
     "401": {
      "$ref": "#/components/responses/SlackSignatureRefused"
     },
     "413": {
      "$ref": "#/components/responses/BodyOver1MB"
     },
     "415": {
      "$ref": "#/components/responses/CompressedBody"
     },
     "503": {
      "$ref": "#/components/responses/SlackUnavailable"
     }
    }
   }
  },
  "/slack/interactivity": {
   "post": {
    "summary": "The send_to_usero message shortcut",
    "tags": [
     "slack"
    ],
    "security": [],
    "parameters": [
     {
      "name": "X-Slack-Request-Timestamp",
      "in": "header",
      "schema": {
       "type": "string"
      }
     },
     {
      "name": "X-Slack-Signature",
      "in": "header",
      "schema": {
       "type": "string"
      }
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/x-www-form-urlencoded": {
       "schema": {
        "type": "object",
        "additionalProperties": {
         "type": "string"
        }
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "acknowledged"
     },
     "400": {
      "$ref": "#/components/responses/NotASlackPayload"
     },
     "401": {
      "$ref": "#/components/responses/SlackSignatureRefused"
     },
     "413": {
      "$ref": "#/components/responses/BodyOver1MB"
     },
     "415": {
      "$ref": "#/components/responses/CompressedBody"
     },
     "503": {
      "$ref": "#/components/responses/SlackUnavailable"
     }
    }
   }
  },
  "/slack/commands": {
   "post": {
    "summary": "The /usero slash command",
    "tags": [
     "slack"
    ],
    "security": [],
    "parameters": [
     {
      "name": "X-Slack-Request-Timestamp",
      "in": "header",
      "schema": {
       "type": "string"
      }
     },
     {
      "name": "X-Slack-Signature",
      "in": "header",
      "schema": {
       "type": "string"
      }
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/x-www-form-urlencoded": {
       "schema": {
        "type": "object",
        "additionalProperties": {
         "type": "string"
        }
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "the ephemeral answer (empty for Slack's ssl_check)",
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "properties": {
          "response_type": {
           "type": "string"
          },
          "text": {
           "type": "string"
          }
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/NotASlackPayload"
     },
     "401": {
      "$ref": "#/components/responses/SlackSignatureRefused"
     },
     "413": {
      "$ref": "#/components/responses/BodyOver1MB"
     },
     "415": {
      "$ref": "#/components/responses/CompressedBody"
     },
     "503": {
      "$ref": "#/components/responses/SlackUnavailable"
     }
    }
   }
  },
  "/slack/oauth/callback": {
   "get": {
    "summary": "OAuth v2 redirect from Slack",
    "tags": [
     "slack"
    ],
    "security": [],
    "parameters": [
     {
      "name": "code",
      "in": "query",
      "schema": {
       "type": "string"
      }
     },
     {
      "name": "state",
      "in": "query",
      "schema": {
       "type": "string"
      }
     },
     {
      "name": "error",
      "in": "query",
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "installed",
      "content": {
       "text/html": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "400": {
      "description": "cancelled, expired, reused or forged link",
      "content": {
       "text/html": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "403": {
      "description": "refused",
      "content": {
       "text/html": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "409": {
      "description": "the workspace belongs to another client",
      "content": {
       "text/html": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "502": {
      "description": "Slack refused the code",
      "content": {
       "text/html": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "503": {
      "description": "`Slack is not configured`; or `Storage is unavailable, try again shortly`: the database did not answer (PostgreSQL down or out of reach); nothing was written",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     }
    }
   }
  },
  "/inbox": {
   "get": {
    "summary": "The inbox (signed in) or a redirect to sign in",
    "tags": [
     "inbox"
    ],
    "security": [],
    "responses": {
     "200": {
      "$ref": "#/components/responses/InboxPage"
     },
     "303": {
      "$ref": "#/components/responses/InboxRedirect"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   }
  },
  "/inbox/export.csv": {
   "get": {
    "summary": "Every item the list's filters (source, env, q) select, as CSV (signed in), or a redirect to sign in",
    "tags": [
     "inbox"
    ],
    "security": [],
    "responses": {
     "200": {
      "description": "RFC 4180 CSV with a byte order mark, newest first; a field that would start a formula starts with an apostrophe",
      "content": {
       "text/csv": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "303": {
      "$ref": "#/components/responses/InboxRedirect"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   }
  },
  "/inbox/login": {
   "get": {
    "summary": "The sign-in form",
    "tags": [
     "inbox"
    ],
    "security": [],
    "responses": {
     "200": {
      "$ref": "#/components/responses/InboxPage"
     },
     "303": {
      "$ref": "#/components/responses/InboxRedirect"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   },
   "post": {
    "summary": "Sign in with the admin key",
    "tags": [
     "inbox"
    ],
    "security": [],
    "responses": {
     "303": {
      "$ref": "#/components/responses/InboxRedirect"
     },
     "400": {
      "$ref": "#/components/responses/NotAForm"
     },
     "401": {
      "description": "wrong key",
      "content": {
       "text/html": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "403": {
      "description": "form expired",
      "content": {
       "text/html": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "413": {
      "$ref": "#/components/responses/FormTooLarge"
     },
     "415": {
      "$ref": "#/components/responses/CompressedBodyPage"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/x-www-form-urlencoded": {
       "schema": {
        "type": "object",
        "properties": {
         "adminKey": {
          "type": "string"
         },
         "loginToken": {
          "type": "string"
         }
        }
       }
      }
     }
    }
   }
  },
  "/inbox/logout": {
   "post": {
    "summary": "Sign out",
    "tags": [
     "inbox"
    ],
    "security": [],
    "responses": {
     "303": {
      "$ref": "#/components/responses/InboxRedirect"
     },
     "400": {
      "$ref": "#/components/responses/NotAForm"
     },
     "403": {
      "$ref": "#/components/responses/CSRFRefused"
     },
     "413": {
      "$ref": "#/components/responses/FormTooLarge"
     },
     "415": {
      "$ref": "#/components/responses/CompressedBodyPage"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/x-www-form-urlencoded": {
       "schema": {
        "type": "object",
        "properties": {
         "csrf": {
          "type": "string"
         }
        }
       }
      }
     }
    }
   }
  },
  "/inbox/items/{id}": {
   "parameters": [
    {
     "name": "id",
     "in": "path",
     "required": true,
     "schema": {
      "type": "string"
     }
    }
   ],
   "get": {
    "summary": "One item (the link Slack posts of new feedback carry)",
    "tags": [
     "inbox"
    ],
    "security": [],
    "responses": {
     "200": {
      "$ref": "#/components/responses/InboxPage"
     },
     "303": {
      "$ref": "#/components/responses/InboxRedirect"
     },
     "404": {
      "$ref": "#/components/responses/NoSuchItem"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   }
  },
  "/inbox/items/{id}/delete": {
   "parameters": [
    {
     "name": "id",
     "in": "path",
     "required": true,
     "schema": {
      "type": "string"
     }
    }
   ],
   "get": {
    "summary": "Confirm deleting an item",
    "tags": [
     "inbox"
    ],
    "security": [],
    "responses": {
     "200": {
      "$ref": "#/components/responses/InboxPage"
     },
     "303": {
      "$ref": "#/components/responses/InboxRedirect"
     },
     "404": {
      "$ref": "#/components/responses/NoSuchItem"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    }
   },
   "post": {
    "summary": "Delete an item",
    "tags": [
     "inbox"
    ],
    "security": [],
    "responses": {
     "303": {
      "$ref": "#/components/responses/InboxRedirect"
     },
     "400": {
      "$ref": "#/components/responses/NotAForm"
     },
     "403": {
      "$ref": "#/components/responses/CSRFRefused"
     },
     "404": {
      "$ref": "#/components/responses/NoSuchItem"
     },
     "413": {
      "$ref": "#/components/responses/FormTooLarge"
     },
     "415": {
      "$ref": "#/components/responses/CompressedBodyPage"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/x-www-form-urlencoded": {
       "schema": {
        "type": "object",
        "properties": {
         "csrf": {
          "type": "string"
         }
        }
       }
      }
     }
    }
   }
  },
  "/inbox/slack/connect": {
   "post": {
    "summary": "Connect Slack: redirect to Slack's authorize page",
    "tags": [
     "inbox"
    ],
    "security": [],
    "responses": {
     "303": {
      "$ref": "#/components/responses/InboxRedirect"
     },
     "400": {
      "$ref": "#/components/responses/NotAForm"
     },
     "403": {
      "$ref": "#/components/responses/CSRFRefused"
     },
     "413": {
      "$ref": "#/components/responses/FormTooLarge"
     },
     "415": {
      "$ref": "#/components/responses/CompressedBodyPage"
     },
     "503": {
      "description": "Slack is not configured; or `Storage is unavailable, try again shortly`: the database did not answer (PostgreSQL down or out of reach); nothing was written",
      "content": {
       "text/html": {
        "schema": {
         "type": "string"
        }
       }
      }
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/x-www-form-urlencoded": {
       "schema": {
        "type": "object",
        "properties": {
         "csrf": {
          "type": "string"
         }
        }
       }
      }
     }
    }
   }
  },
  "/inbox/slack/settings": {
   "post": {
    "summary": "Save the workspace's Slack settings from the inbox",
    "tags": [
     "inbox"
    ],
    "security": [],
    "responses": {
     "303": {
      "$ref": "#/components/responses/InboxRedirect"
     },
     "400": {
      "description": "not a form, or a bad field (named on the page)",
      "content": {
       "text/html": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "403": {
      "$ref": "#/components/responses/CSRFRefused"
     },
     "404": {
      "description": "Slack is not connected",
      "content": {
       "text/html": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "413": {
      "$ref": "#/components/responses/FormTooLarge"
     },
     "415": {
      "$ref": "#/components/responses/CompressedBodyPage"
     },
     "503": {
      "$ref": "#/components/responses/StorageUnavailable"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/x-www-form-urlencoded": {
       "schema": {
        "type": "object",
        "properties": {
         "csrf": {
          "type": "string"
         },
         "triggerEmoji": {
          "type": "string",
          "description": "emoji names separated by commas or spaces"
         },
         "notifyChannel": {
          "type": "string",
          "description": "a channel id; empty: none"
         }
        }
       }
      }
     }
    }
   }
  },
  "/inbox/assets/inbox.css": {
   "get": {
    "summary": "The inbox stylesheet",
    "tags": [
     "inbox"
    ],
    "security": [],
    "responses": {
     "200": {
      "description": "CSS",
      "content": {
       "text/css": {
        "schema": {
         "type": "string"
        }
       }
      }
     }
    }
   }
  },
  "/inbox/**": {
   "get": {
    "summary": "Any other address under /inbox: the inbox's own 404 page (with the inbox's headers), not the API's JSON",
    "tags": [
     "inbox"
    ],
    "security": [],
    "responses": {
     "404": {
      "description": "HTML page",
      "content": {
       "text/html": {
        "schema": {
         "type": "string"
        }
       }
      }
     }
    }
   }
  },
  "/widget.js": {
   "get": {
    "summary": "The drop-in widget script",
    "tags": [
     "widget"
    ],
    "security": [],
    "parameters": [
     {
      "name": "If-None-Match",
      "in": "header",
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "JavaScript",
      "content": {
       "application/javascript": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "304": {
      "description": "not modified"
     }
    }
   }
  },
  "/widget/demo": {
   "get": {
    "summary": "A host page to try the widget on",
    "tags": [
     "widget"
    ],
    "security": [],
    "parameters": [
     {
      "name": "clientId",
      "in": "query",
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "$ref": "#/components/responses/InboxPage"
     }
    }
   }
  },
  "/widget/demo.js": {
   "get": {
    "summary": "The demo page's script",
    "tags": [
     "widget"
    ],
    "security": [],
    "responses": {
     "200": {
      "description": "JavaScript",
      "content": {
       "application/javascript": {
        "schema": {
         "type": "string"
        }
       }
      }
     }
    }
   }
  },
  "/healthz": {
   "get": {
    "summary": "Health",
    "tags": [
     "operations"
    ],
    "security": [],
    "responses": {
     "200": {
      "description": "—",
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "required": [
          "status"
         ],
         "properties": {
          "status": {
           "const": "ok"
          }
         }
        }
       }
      }
     },
     "503": {
      "description": "the store does not answer: `{\"status\":\"unavailable\",\"error\":\"Storage is unavailable\"}`",
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "required": [
          "status",
          "error"
         ],
         "properties": {
          "status": {
           "const": "unavailable"
          },
          "error": {
           "type": "string"
          }
         }
        }
       }
      }
     }
    }
   }
  },
  "/metrics": {
   "get": {
    "summary": "Prometheus text format",
    "tags": [
     "operations"
    ],
    "security": [],
    "responses": {
     "200": {
      "description": "metrics",
      "content": {
       "text/plain": {
        "schema": {
         "type": "string"
        }
       }
      }
     }
    }
   }
  },
  "/openapi.json": {
   "get": {
    "summary": "This description",
    "tags": [
     "operations"
    ],
    "security": [],
    "responses": {
     "200": {
      "description": "OpenAPI 3.1",
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      }
     }
    }
   }
  }
 },
 "components": {
  "securitySchemes": {
   "adminKey": {
    "type": "http",
    "scheme": "bearer",
    "description": "the client's admin key"
   }
  },
  "responses": {
   "StorageUnavailable": {
    "description": "`Storage is unavailable, try again shortly`: the database did not answer (PostgreSQL down or out of reach); nothing was written",
    "headers": {
     "Retry-After": {
      "$ref": "#/components/headers/RetryAfter"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "CompressedBody": {
    "description": "a compressed body (`Content-Encoding` other than `identity`, or a `Transfer-Encoding` other than `chunked`): send it uncompressed",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "CompressedBodyPage": {
    "description": "a compressed body (`Content-Encoding` other than `identity`, or a `Transfer-Encoding` other than `chunked`): send it uncompressed",
    "content": {
     "text/html": {
      "schema": {
       "type": "string"
      }
     }
    }
   },
   "CompressedBodyPublic": {
    "description": "a compressed body (`Content-Encoding` other than `identity`, or a `Transfer-Encoding` other than `chunked`): send it uncompressed",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    },
    "headers": {
     "Access-Control-Allow-Origin": {
      "$ref": "#/components/headers/AllowAnyOrigin"
     }
    }
   },
   "DomainNotAllowed": {
    "description": "`Domain not allowed`: the Origin is not on the client's allowlist",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    },
    "headers": {
     "Access-Control-Allow-Origin": {
      "$ref": "#/components/headers/AllowAnyOrigin"
     }
    }
   },
   "InvalidClientID": {
    "description": "`Invalid client ID`",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    },
    "headers": {
     "Access-Control-Allow-Origin": {
      "$ref": "#/components/headers/AllowAnyOrigin"
     }
    }
   },
   "TooManyRequests": {
    "description": "`Too many requests` (USERO_PUBLIC_RATE_LIMIT)",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    },
    "headers": {
     "Access-Control-Allow-Origin": {
      "$ref": "#/components/headers/AllowAnyOrigin"
     },
     "Retry-After": {
      "$ref": "#/components/headers/RetryAfter"
     }
    }
   },
   "Preflight": {
    "description": "preflight answer",
    "headers": {
     "Access-Control-Allow-Origin": {
      "$ref": "#/components/headers/AllowAnyOrigin"
     }
    }
   },
   "BadRequest": {
    "description": "bad request",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "AdminKeyRefused": {
    "description": "missing or invalid admin key",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "PageNotFound": {
    "description": "not found",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "BodyOver1MB": {
    "description": "body over 1 MB",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "NotInstalled": {
    "description": "no Slack installation",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "NotASlackPayload": {
    "description": "signed, but not a Slack payload",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "SlackSignatureRefused": {
    "description": "`Invalid Slack signature`",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "SlackUnavailable": {
    "description": "`Slack is not configured`, or storage is full; or `Storage is unavailable, try again shortly`: the database did not answer (PostgreSQL down or out of reach); nothing was written",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "InboxPage": {
    "description": "page",
    "content": {
     "text/html": {
      "schema": {
       "type": "string"
      }
     }
    }
   },
   "InboxRedirect": {
    "description": "redirect (sign-in, or back to the inbox)",
    "headers": {
     "Location": {
      "schema": {
       "type": "string"
      }
     }
    }
   },
   "NotAForm": {
    "description": "not a form",
    "content": {
     "text/html": {
      "schema": {
       "type": "string"
      }
     }
    }
   },
   "FormTooLarge": {
    "description": "form too large",
    "content": {
     "text/html": {
      "schema": {
       "type": "string"
      }
     }
    }
   },
   "CSRFRefused": {
    "description": "missing or wrong CSRF token",
    "content": {
     "text/html": {
      "schema": {
       "type": "string"
      }
     }
    }
   },
   "NoSuchItem": {
    "description": "no such item",
    "content": {
     "text/html": {
      "schema": {
       "type": "string"
      }
     }
    }
   }
  },
  "headers": {
   "AllowAnyOrigin": {
    "schema": {
     "type": "string",
     "const": "*"
    },
    "description": "always `*`"
   },
   "RetryAfter": {
    "description": "seconds",
    "required": true,
    "schema": {
     "pattern": "^[0-9]+$",
     "type": "string"
    }
   }
  },
  "schemas": {
   "Error": {
    "type": "object",
    "required": [
     "error"
    ],
    "properties": {
     "error": {
      "type": "string"
     },
     "issues": {
      "type": "object",
      "additionalProperties": {
       "type": "array",
       "items": {
        "type": "string"
       }
      }
     }
    }
   },
   "Submitted": {
    "type": "object",
    "required": [
     "success",
     "feedbackId"
    ],
    "properties": {
     "success": {
      "const": true
     },
     "feedbackId": {
      "type": "string"
     }
    }
   },
   "Success": {
    "type": "object",
    "required": [
     "success"
    ],
    "properties": {
     "success": {
      "const": true
     }
    }
   },
   "ScreenshotRef": {
    "type": "object",
    "required": [
     "fileName",
     "url",
     "fileSize",
     "mimeType"
    ],
    "additionalProperties": false,
    "properties": {
     "fileName": {
      "type": "string",
      "minLength": 1,
      "maxLength": 512
     },
     "url": {
      "type": "string",
      "description": "an absolute http or https URL",
      "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
      "minLength": 1,
      "maxLength": 2048
     },
     "fileSize": {
      "type": "integer",
      "minimum": 0
     },
     "mimeType": {
      "type": "string",
      "pattern": "^image/",
      "maxLength": 128
     },
     "width": {
      "type": "integer",
      "minimum": 0
     },
     "height": {
      "type": "integer",
      "minimum": 0
     }
    }
   },
   "Uploaded": {
    "type": "object",
    "required": [
     "success",
     "screenshot"
    ],
    "properties": {
     "success": {
      "const": true
     },
     "screenshot": {
      "$ref": "#/components/schemas/ScreenshotRef"
     }
    }
   },
   "FeedbackSubmission": {
    "type": "object",
    "required": [
     "clientId"
    ],
    "additionalProperties": false,
    "description": "A rating or a non-empty comment (or both) is required. Unknown fields are refused.",
    "properties": {
     "clientId": {
      "type": "string",
      "minLength": 1,
      "maxLength": 128
     },
     "rating": {
      "type": [
       "integer",
       "null"
      ],
      "minimum": 1,
      "maximum": 4
     },
     "comment": {
      "type": [
       "string",
       "null"
      ],
      "maxLength": 50000
     },
     "userEmail": {
      "type": [
       "string",
       "null"
      ],
      "maxLength": 254,
      "description": "an email address; empty means absent"
     },
     "pageUrl": {
      "type": [
       "string",
       "null"
      ],
      "maxLength": 8192,
      "description": "absent: the Referer header"
     },
     "pageTitle": {
      "type": [
       "string",
       "null"
      ],
      "maxLength": 8192
     },
     "referrer": {
      "type": [
       "string",
       "null"
      ],
      "maxLength": 8192
     },
     "environment": {
      "type": [
       "string",
       "null"
      ],
      "maxLength": 128,
      "description": "omitted, empty or blank: the default environment; stored without the white space around it; no control characters (line breaks, tabs) inside"
     },
     "metadata": {
      "type": [
       "object",
       "null"
      ],
      "description": "at most 10 KB as JSON, nested at most 64 levels deep"
     },
     "screenshots": {
      "type": [
       "array",
       "null"
      ],
      "maxItems": 10,
      "items": {
       "$ref": "#/components/schemas/ScreenshotRef"
      }
     },
     "sessionReplayId": {
      "type": [
       "string",
       "null"
      ],
      "minLength": 1,
      "maxLength": 128
     },
     "replayOffsetMs": {
      "type": [
       "integer",
       "null"
      ],
      "minimum": 0
     },
     "userId": {
      "type": [
       "string",
       "null"
      ],
      "minLength": 1,
      "maxLength": 128
     }
    }
   },
   "SlackCapture": {
    "type": "object",
    "required": [
     "teamId",
     "capturedVia"
    ],
    "properties": {
     "teamId": {
      "type": "string"
     },
     "channelId": {
      "type": [
       "string",
       "null"
      ]
     },
     "messageTs": {
      "type": [
       "string",
       "null"
      ]
     },
     "threadTs": {
      "type": [
       "string",
       "null"
      ]
     },
     "authorId": {
      "type": [
       "string",
       "null"
      ]
     },
     "forwardedBy": {
      "type": [
       "string",
       "null"
      ]
     },
     "capturedVia": {
      "type": "string",
      "pattern": "^(reaction:[a-z0-9_+'-]{1,100}|shortcut|command)$",
      "description": "reaction:NAME (the trigger emoji used), shortcut or command"
     },
     "permalink": {
      "type": [
       "string",
       "null"
      ]
     },
     "recovered": {
      "type": "boolean",
      "description": "captured by a recovery sweep"
     }
    }
   },
   "FeedbackItem": {
    "type": "object",
    "required": [
     "id",
     "source",
     "createdAt",
     "screenshots"
    ],
    "properties": {
     "id": {
      "type": "string"
     },
     "source": {
      "type": "string",
      "enum": [
       "api",
       "widget",
       "slack"
      ]
     },
     "createdAt": {
      "type": "string",
      "format": "date-time"
     },
     "rating": {
      "type": [
       "integer",
       "null"
      ]
     },
     "comment": {
      "type": [
       "string",
       "null"
      ],
      "description": "For a Slack item, the message's text as Slack sent it, in Slack's markup (&amp; &lt; &gt;, <@U…> mentions, <https://…|label> links), then a line [file: NAME] for each file shared with it."
     },
     "userEmail": {
      "type": [
       "string",
       "null"
      ]
     },
     "pageUrl": {
      "type": [
       "string",
       "null"
      ]
     },
     "pageTitle": {
      "type": [
       "string",
       "null"
      ]
     },
     "referrer": {
      "type": [
       "string",
       "null"
      ]
     },
     "environment": {
      "type": [
       "string",
       "null"
      ]
     },
     "metadata": {
      "type": [
       "object",
       "null"
      ]
     },
     "screenshots": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/ScreenshotRef"
      }
     },
     "sessionReplayId": {
      "type": [
       "string",
       "null"
      ]
     },
     "replayOffsetMs": {
      "type": [
       "integer",
       "null"
      ]
     },
     "userId": {
      "type": [
       "string",
       "null"
      ]
     },
     "slack": {
      "oneOf": [
       {
        "type": "null"
       },
       {
        "$ref": "#/components/schemas/SlackCapture"
       }
      ]
     },
     "recovered": {
      "type": "boolean",
      "description": "captured by a recovery sweep (also in slack)"
     }
    }
   },
   "ItemList": {
    "type": "object",
    "required": [
     "items",
     "nextCursor"
    ],
    "properties": {
     "items": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/FeedbackItem"
      }
     },
     "nextCursor": {
      "type": [
       "string",
       "null"
      ]
     }
    }
   },
   "Identification": {
    "type": "object",
    "required": [
     "clientId",
     "userId"
    ],
    "additionalProperties": false,
    "properties": {
     "clientId": {
      "type": "string",
      "minLength": 1,
      "maxLength": 128
     },
     "userId": {
      "type": "string",
      "minLength": 1,
      "maxLength": 128
     },
     "email": {
      "type": [
       "string",
       "null"
      ]
     },
     "name": {
      "type": [
       "string",
       "null"
      ]
     },
     "traits": {
      "type": [
       "object",
       "null"
      ],
      "maxProperties": 20,
      "description": "flat: string, number, boolean or null values; at most 2 KB"
     }
    }
   },
   "EndUser": {
    "type": "object",
    "required": [
     "userId",
     "createdAt",
     "updatedAt"
    ],
    "properties": {
     "userId": {
      "type": "string"
     },
     "email": {
      "type": [
       "string",
       "null"
      ]
     },
     "name": {
      "type": [
       "string",
       "null"
      ]
     },
     "traits": {
      "type": [
       "object",
       "null"
      ]
     },
     "createdAt": {
      "type": "string",
      "format": "date-time"
     },
     "updatedAt": {
      "type": "string",
      "format": "date-time"
     }
    }
   },
   "DataSubject": {
    "type": "object",
    "description": "exactly one of the three keys",
    "properties": {
     "email": {
      "type": "string"
     },
     "userId": {
      "type": "string"
     },
     "slackUserId": {
      "type": "string"
     }
    }
   },
   "Erased": {
    "type": "object",
    "required": [
     "success",
     "counts"
    ],
    "properties": {
     "success": {
      "const": true
     },
     "counts": {
      "type": "object",
      "additionalProperties": {
       "type": "integer"
      }
     }
    }
   },
   "AuditList": {
    "type": "object",
    "required": [
     "items",
     "nextCursor"
    ],
    "properties": {
     "nextCursor": {
      "type": [
       "string",
       "null"
      ],
      "description": "null on the last page"
     },
     "items": {
      "type": "array",
      "items": {
       "type": "object",
       "required": [
        "kind",
        "finishedAt",
        "counts"
       ],
       "properties": {
        "kind": {
         "type": "string"
        },
        "dueAt": {
         "type": [
          "string",
          "null"
         ],
         "format": "date-time"
        },
        "finishedAt": {
         "type": "string",
         "format": "date-time"
        },
        "counts": {
         "type": "object"
        }
       }
      }
     }
    }
   },
   "Installation": {
    "type": "object",
    "required": [
     "teamId",
     "installedAt",
     "scopes"
    ],
    "properties": {
     "teamId": {
      "type": "string"
     },
     "teamName": {
      "type": [
       "string",
       "null"
      ]
     },
     "installedAt": {
      "type": "string",
      "format": "date-time"
     },
     "scopes": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "tokenRevoked": {
      "type": "boolean",
      "const": true,
      "description": "present once Slack revoked the bot token (`tokens_revoked`): nothing is captured or posted until the workspace is installed again"
     }
    }
   },
   "TriggerEmoji": {
    "type": "array",
    "minItems": 1,
    "maxItems": 10,
    "items": {
     "type": "string",
     "pattern": "^[a-z0-9_+'-]{1,100}$"
    }
   },
   "SlackSettings": {
    "type": "object",
    "required": [
     "triggerEmoji",
     "notifyChannel"
    ],
    "properties": {
     "triggerEmoji": {
      "$ref": "#/components/schemas/TriggerEmoji"
     },
     "notifyChannel": {
      "type": [
       "string",
       "null"
      ]
     },
     "notifyProblem": {
      "description": "present only while the last post to notifyChannel failed for a reason the admin must fix; gone once a post succeeds or the channel changes",
      "type": "object",
      "required": [
       "code",
       "message",
       "at"
      ],
      "properties": {
       "code": {
        "description": "Slack's error code (not_in_channel, channel_not_found, is_archived, token_revoked, …) or unreachable",
        "type": "string"
       },
       "message": {
        "description": "what went wrong and what to do, as the inbox shows it",
        "type": "string"
       },
       "at": {
        "description": "when the last post failed",
        "type": "string",
        "format": "date-time"
       }
      }
     }
    }
   }
  }
 }
}
"""#
}
