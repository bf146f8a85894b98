import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

/** Where the document is served: the UI at /docs, the JSON at /docs-json. */
export const OPENAPI_PATH = 'docs';

/** The OpenAPI document of the admin, health, metrics and schema routes. */
export function openApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('caac-profile-sync')
    .setDescription(
      'Keeps CAAC contact profiles in step with a CRM. /admin routes need "Authorization: Bearer <ADMIN_TOKEN>"; ' +
        'health, metrics and schemas are open.',
    )
    .setVersion(process.env.npm_package_version ?? '0.1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' }, 'admin-token')
    .build();
  return SwaggerModule.createDocument(app, config);
}

/** Serves the document and its UI; nothing in it is secret (routes, not data). */
export function serveOpenApi(app: INestApplication): void {
  SwaggerModule.setup(OPENAPI_PATH, app, () => openApiDocument(app), { jsonDocumentUrl: `${OPENAPI_PATH}-json` });
}
