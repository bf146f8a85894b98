import { Controller, Get, Header } from '@nestjs/common';
import { PROFILE_CHANGE_V1_AVRO_SCHEMA, PROFILE_CHANGE_V1_SCHEMA } from './decoders/profile-change.v1.decoder';

/** Publishes the input event formats, so producers can validate before they send. */
@Controller('schemas')
export class SchemasController {
  @Get('profile-change.v1.json')
  @Header('Content-Type', 'application/schema+json; charset=utf-8')
  @Header('Cache-Control', 'public, max-age=300')
  profileChangeV1(): Readonly<Record<string, unknown>> {
    return PROFILE_CHANGE_V1_SCHEMA;
  }

  @Get('profile-change.v1.avsc')
  @Header('Content-Type', 'application/json; charset=utf-8')
  @Header('Cache-Control', 'public, max-age=300')
  profileChangeV1Avro(): Readonly<Record<string, unknown>> {
    return PROFILE_CHANGE_V1_AVRO_SCHEMA;
  }
}
